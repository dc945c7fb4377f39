"""A page's polls (GET /chats/<id>/messages?after=&changes= and GET /chats/list) when nothing
is new, and when something is.

Every open page polls, and almost every poll finds nothing: that answer comes from the chat row,
or the rows the chat list is made of, alone (pages/chats.answer_idle_poll). These tests hold it
to what the full answer says.
"""
import re

import pytest
from sqlalchemy import event, select

from webchat.extensions import db
from webchat.models import User

from .support.records import create_group, post_reply, set_user, stored_messages

POLL_HEADERS = {"HX-Request": "true", "HX-Trigger": "poller", "HX-Target": "messages"}


@pytest.fixture
def pair(actor):
    alice, bob = actor("alice"), actor("bob")
    chat_id = create_group(alice, "Team", "bob")
    bob.send(chat_id, "hello")
    return chat_id, alice, bob


def poll(who, chat_id: int, after: int, changes: int | None = None):
    query = f"after={after}" + (f"&changes={changes}" if changes is not None else "")
    return who.client.get(f"/chats/{chat_id}/messages?{query}", headers=POLL_HEADERS)


def newest_id(app, chat_id: int) -> int:
    return stored_messages(app, chat_id)[-1].id


def change_cursor(page_html: str) -> int:
    return int(re.search(r'id="messages"[^>]*data-changes="(\d+)"', page_html).group(1))


class StatementsSeen:
    """The SQL run through SQLAlchemy while the block runs."""

    def __init__(self, app) -> None:
        self.app, self.statements = app, []

    def __enter__(self):
        with self.app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self.seen)
        return self

    def seen(self, _conn, _cursor, statement, *_rest) -> None:
        self.statements.append(statement)

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self.seen)


def test_a_poll_that_finds_nothing_new_answers_empty_without_reading_messages(app, pair):
    chat_id, alice, _bob = pair
    cursor = change_cursor(alice.get(f"/chats/{chat_id}").get_data(as_text=True))
    newest = newest_id(app, chat_id)

    with StatementsSeen(app) as seen:
        response = poll(alice, chat_id, newest, cursor)

    assert response.status_code == 200 and response.get_data() == b""
    assert not [s for s in seen.statements if re.search(r"\bmessages\b", s)]


def test_an_idle_polls_answer_carries_the_same_headers_as_any_signed_in_answer(app, pair):
    chat_id, alice, _bob = pair
    idle = poll(alice, chat_id, newest_id(app, chat_id))
    full = poll(alice, chat_id, 0)

    assert full.get_data() != b""
    for header in ("Cache-Control", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
                   "Referrer-Policy", "Content-Type"):
        assert idle.headers.get(header) == full.headers.get(header), header
    assert idle.headers["Cache-Control"] == "no-store"


def test_a_poll_after_a_new_message_brings_it(app, pair):
    chat_id, alice, bob = pair
    seen = newest_id(app, chat_id)
    bob.send(chat_id, "anything new?")

    response = poll(alice, chat_id, seen, 0)

    assert "anything new?" in response.get_data(as_text=True)


def test_a_poll_after_an_edit_brings_the_changed_message(app, pair):
    chat_id, alice, bob = pair
    page = bob.get(f"/chats/{chat_id}").get_data(as_text=True)
    cursor, newest = change_cursor(page), newest_id(app, chat_id)
    bob.post(f"/chats/{chat_id}/messages/{newest}/edit", {"body": "hello, edited"})

    response = poll(alice, chat_id, newest, cursor)

    assert "hello, edited" in response.get_data(as_text=True)
    assert poll(alice, chat_id, newest, cursor + 1).get_data() == b""  # caught up: nothing again


def test_a_signed_out_sign_in_gets_no_answer_from_a_poll(app, pair):
    chat_id, alice, _bob = pair
    cookie = alice.client.get_cookie("session").value
    newest = newest_id(app, chat_id)
    assert poll(alice, chat_id, newest).status_code == 200
    alice.post("/logout", {})

    alice.client.set_cookie("session", cookie)  # the cookie from before, replayed
    response = poll(alice, chat_id, newest)

    assert response.status_code in (302, 401)


def test_a_poll_of_a_chat_one_is_not_in_is_not_found(app, pair, actor):
    chat_id, _alice, _bob = pair
    carol = actor("carol")

    assert poll(carol, chat_id, newest_id(app, chat_id)).status_code == 404


def test_a_poll_after_a_thread_reply_brings_it(app, pair):
    chat_id, alice, bob = pair
    parent = newest_id(app, chat_id)
    cursor = change_cursor(alice.get(f"/chats/{chat_id}").get_data(as_text=True))
    post_reply(bob, chat_id, parent, "in the thread")

    assert "in the thread" in poll(alice, chat_id, parent).get_data(as_text=True)
    assert "in the thread" in poll(alice, chat_id, parent, cursor).get_data(as_text=True)


# ----- the chat list's poll: GET /chats/list, naming the version the page's list was rendered at -----

LIST_HEADERS = {"HX-Request": "true", "HX-Trigger": "chat-list", "HX-Target": "chat-list"}
LIST_VERSION = re.compile(r'id="chat-list"[^>]*hx-headers="{&#34;Chat-List-Version&#34;: &#34;([0-9a-f]+)&#34;}"')


def listed(who, version: str | None = None):
    """The chat list's poll as the page sends it (the version its list names), or without one."""
    named = {"Chat-List-Version": version} if version else {}
    return who.client.get("/chats/list", headers={**LIST_HEADERS, **named})


def list_version(html: str) -> str:
    return LIST_VERSION.search(html).group(1)


def without_version(html: str) -> str:
    return LIST_VERSION.sub("", html)


@pytest.fixture
def lists(app, actor):
    """alice in a group "Team" with bob and carol, bob in a thread she follows, and a direct
    chat with dave: (app, alice, bob, carol, dave, team id, direct id, thread parent id)."""
    alice, bob, carol, dave = actor("alice"), actor("bob"), actor("carol"), actor("dave")
    team = create_group(alice, "Team", "bob carol")
    alice.send(team, "a thread")
    parent = newest_id(app, team)
    post_reply(alice, team, parent, "its first reply")  # alice follows it
    direct = int(alice.post("/dm", {"username": "dave"}).headers["Location"].rsplit("/", 1)[1])
    dave.send(direct, "hi alice")
    return app, alice, bob, carol, dave, team, direct, parent


def test_a_chat_list_poll_naming_the_version_it_shows_is_answered_204_without_reading_messages(lists):
    app, alice, *_ = lists
    version = list_version(alice.get("/").get_data(as_text=True))

    with StatementsSeen(app) as seen:
        response = listed(alice, version)

    assert response.status_code == 204 and response.get_data() == b""
    assert response.headers["Cache-Control"] == "no-store"
    assert not [s for s in seen.statements if re.search(r"\bmessages\b", s)]


def test_the_version_a_polled_list_names_is_the_one_a_page_names(lists):
    _app, alice, *_ = lists
    page_version = list_version(alice.get("/").get_data(as_text=True))

    assert list_version(listed(alice).get_data(as_text=True)) == page_version
    assert listed(alice, page_version).status_code == 204


def _rename_partner(app, alice, bob, carol, dave, team, direct, parent):
    set_user(app, "dave", display_name="David")


def _partner_online(app, alice, bob, carol, dave, team, direct, parent):
    with app.app_context():
        app.extensions["webchat.live_state"].tab_opened(user_id_of(app, "dave"), "a-tab")


def _partner_hides_presence(app, alice, bob, carol, dave, team, direct, parent):
    set_user(app, "dave", hide_presence=True)


def _hide_system_messages(app, alice, bob, carol, dave, team, direct, parent):
    set_user(app, "alice", hide_system_messages=True)


def _edit_newest(app, alice, bob, carol, dave, team, direct, parent):
    dave.post(f"/chats/{direct}/messages/{newest_id(app, direct)}/edit", {"body": "hi alice, edited"})


def _delete_newest(app, alice, bob, carol, dave, team, direct, parent):
    dave.post(f"/chats/{direct}/messages/{newest_id(app, direct)}/delete", {})


CHANGES = {
    "a message in one of the chats": lambda app, alice, bob, carol, dave, team, *_: bob.send(team, "news"),
    "a read": lambda app, alice, bob, carol, dave, team, direct, parent: alice.post(
        f"/chats/{direct}/read", {"upto": str(newest_id(app, direct))}),
    "an edit of a chat's newest message": _edit_newest,
    "a deletion of a chat's newest message": _delete_newest,
    "a rename": lambda app, alice, bob, carol, dave, team, *_: alice.post(f"/chats/{team}/rename",
                                                                          {"name": "Team two"}),
    "a notification level": lambda app, alice, bob, carol, dave, team, *_: alice.post(
        f"/chats/{team}/notifications", {"notify": "none"}),
    "archiving": lambda app, alice, bob, carol, dave, team, *_: alice.post(f"/chats/{team}/archive", {}),
    "a new chat": lambda app, alice, bob, carol, *_: create_group(carol, "Later", "alice"),
    "leaving a chat": lambda app, alice, bob, carol, dave, team, *_: alice.post(f"/chats/{team}/leave", {}),
    "a reply in a followed thread": lambda app, alice, bob, carol, dave, team, direct, parent: post_reply(
        bob, team, parent, "a reply"),
    "reading a followed thread": lambda app, alice, bob, carol, dave, team, direct, parent: (
        post_reply(bob, team, parent, "unread"), None)[1],
    "the partner's new display name": _rename_partner,
    "the partner coming online": _partner_online,
    "the partner hiding their presence": _partner_hides_presence,
    "hiding system messages": _hide_system_messages,
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_chat_list_poll_after_a_change_gets_the_whole_list_as_it_is_now(lists, change):
    if change == "reading a followed thread":
        CHANGES[change](*lists)  # an unread reply first; the change is its read
    version = list_version(listed(lists[1]).get_data(as_text=True))
    if change == "reading a followed thread":
        app, alice, _bob, _carol, _dave, team, _direct, parent = lists
        alice.post(f"/chats/{team}/threads/{parent}/read", {"upto": str(newest_id(app, None))})
    else:
        CHANGES[change](*lists)

    polled = listed(lists[1], version)

    assert polled.status_code == 200
    now = polled.get_data(as_text=True)
    assert list_version(now) != version
    assert without_version(now) == without_version(listed(lists[1]).get_data(as_text=True))
    assert listed(lists[1], list_version(now)).status_code == 204  # and then nothing again


def test_a_signed_out_sign_in_gets_no_answer_from_a_chat_list_poll(lists):
    _app, alice, *_ = lists
    version = list_version(alice.get("/").get_data(as_text=True))
    cookie = alice.client.get_cookie("session").value
    alice.post("/logout", {})

    alice.client.set_cookie("session", cookie)

    assert listed(alice, version).status_code in (302, 401)


def test_another_persons_list_version_gets_ones_own_list(lists):
    _app, alice, bob, *_ = lists
    version = list_version(alice.get("/").get_data(as_text=True))

    answer = listed(bob, version)

    assert answer.status_code == 200 and "dave" not in answer.get_data(as_text=True)


def user_id_of(app, username: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == username))
