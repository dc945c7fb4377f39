"""A member removed from a chat after opening it: every URL of the chat answers 404, every frame
about it over the socket that is still open is refused, and nothing is stored or reaches the
members who remain. Against the live gunicorn server; never-members are in tests/test_access.py.
"""
import uuid

from sqlalchemy import delete, select

from .support.wsclient import Person, is_chat_list, is_error, message_ids
from .test_access import ACCESS

# Every chat URL a non-member must get 404 from (the access table's rows), tried by the removed member.
CHAT_PROBES = [(endpoint, probe) for endpoint, probes in ACCESS.items() for probe in probes
               if probe.outsider == 404 and "{chat}" in probe.path]


class Placeholders(dict):
    """The access table's path placeholders: any id it names ({message}, {attachment}, ones added
    later) is bob's own message's: whatever it names, being out of the chat must answer 404."""

    def __missing__(self, key):
        return self["id"]




def frames_about(chat: int, who: Person, text: str):
    marks = (f'data-chat="{chat}"', f'id="typing-{chat}"', f'id="receipts-{chat}"', text)
    return lambda frame: any(mark in frame for mark in marks) and (who.username in frame or text in frame)


def every_frame_kind(chat: int, upto: int, text: str) -> list[dict]:
    # A view re-reads the memberships: it comes last, so each frame before it meets a socket
    # that has not caught up.
    return [
        {"type": "typing", "chat": chat, "state": "start"},
        {"type": "send", "chat": chat, "body": text, "client_id": uuid.uuid4().hex},
        {"type": "read", "chat": chat, "upto": upto},
        {"type": "delivered", "chat": chat, "upto": upto},
        {"type": "view", "chat": chat, "after": 0},
    ]


def test_a_removed_member_gets_404_from_every_url_of_the_chat_and_changes_nothing(live_server, people, stored):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat(f"Team {uuid.uuid4().hex[:6]}", [bob])
    own = bob.send(chat, "bob's own message, from before")
    assert own in bob.stored_ids(chat)  # his page polls the chat
    assert alice.remove_member(chat, bob.username).status == 200
    later = alice.send(chat, "said after bob left")
    before = stored.rows_about(chat, [alice.username, bob.username])

    for endpoint, probe in CHAT_PROBES:
        path = probe.path.format_map(Placeholders(chat=chat, admin=alice.username, member=bob.username, id=own))
        form = {k: v.format_map(Placeholders(chat=chat, admin=alice.username, member=alice.username, id=own))
                for k, v in (probe.form or {}).items()}
        response = bob.get(path) if probe.method == "GET" else bob.post(path, form)
        assert response.status == 404, (endpoint, probe.method, path, response)
        assert "said after bob left" not in response.text
    assert stored.rows_about(chat, [alice.username, bob.username]) == before
    assert later in alice.stored_ids(chat)


def test_a_removed_members_open_socket_is_refused_every_frame_about_the_chat_and_nobody_hears_it(people, stored):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    newest = alice.send(chat, "before the removal")
    bob_tab = bob.open_tab()
    bob_tab.view(chat, after=newest)
    bob_tab.wait_for(is_chat_list)
    carol_tab = carol.open_tab()
    carol_tab.view(chat, after=newest)
    carol_tab.wait_for(is_chat_list)

    assert alice.remove_member(chat, bob.username).status == 200
    before = stored.rows_about(chat, [alice.username, bob.username, carol.username])

    for frame in every_frame_kind(chat, newest, "bob still here?"):
        bob_tab.send_json(frame)
        answer = bob_tab.wait_for(lambda f: is_error(f) or "pending--failed" in f or bool(message_ids(f, chat)))
        assert "not available to you" in answer, (frame["type"], answer)
    assert [f for f in carol_tab.collect(1.0) if frames_about(chat, bob, "bob still here?")(f)] == []
    assert stored.rows_about(chat, [alice.username, bob.username, carol.username]) == before
    after_removal = alice.send(chat, "after the removal")
    assert after_removal not in message_ids(bob_tab.collect(0.5))


def test_a_removal_whose_notice_never_reached_the_socket_is_still_enforced_by_the_database(live_server, people,
                                                                                            stored):
    """As when the removal happened on another host while Redis was away: the socket's own idea
    of its chats is stale, so the database must decide; and the next view (every page sends one
    after a reconnect or resync) stops the chat's live messages."""
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    newest = alice.send(chat, "before the removal")
    bob_tab = bob.open_tab()
    carol_tab = carol.open_tab()
    carol_tab.view(chat, after=newest)
    carol_tab.wait_for(is_chat_list)

    memberships, users = stored.metadata.tables["memberships"], stored.metadata.tables["users"]
    with stored.engine.begin() as conn:  # removed without any message to the sockets
        bob_id = conn.scalar(select(users.c.id).where(users.c.username == bob.username))
        conn.execute(delete(memberships).where(memberships.c.chat_id == chat, memberships.c.user_id == bob_id))
    before = stored.rows_about(chat, [alice.username, bob.username, carol.username])

    for frame in every_frame_kind(chat, newest, "bob still here?"):
        bob_tab.send_json(frame)
        if frame["type"] in ("read", "delivered"):
            continue  # not broadcast, and the database has no marker of his left to move
        answer = bob_tab.wait_for(lambda f: is_error(f) or "pending--failed" in f or bool(message_ids(f, chat)))
        assert "not available to you" in answer, (frame["type"], answer)
    assert [f for f in carol_tab.collect(1.0) if frames_about(chat, bob, "bob still here?")(f)] == []
    assert stored.rows_about(chat, [alice.username, bob.username, carol.username]) == before

    bob_tab.view(None)  # his page's next view
    bob_tab.wait_for(is_chat_list)
    secret = alice.send(chat, "not for bob any more")
    carol_tab.wait_for_message(secret)
    assert secret not in message_ids(bob_tab.collect(0.5))
