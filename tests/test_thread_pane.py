"""A thread's pane: the chat page with a thread open, the pane alone for htmx, its older replies
and catch-up, its composer (a fresh one after a send, the text kept on a refusal), and over the
socket the open thread's catch-up on "view" and typing scoped to the thread."""
import re
import uuid

from .support.pages import parse
from .support.records import create_group, reply_id, stored_messages
from .support.records import message_sent as send
from .support.records import post_reply as reply
from .support.wsclient import is_error, new_client_id


def pane_replies(tree, parent) -> list[str]:
    return [el.find(cls="msg-body").text.strip() for el in tree.by_id(f"thread-{parent}-replies").find_all("article")]


def test_a_thread_url_shows_the_chat_with_the_thread_open_beside_it(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "Shall we ship on Friday?")
    reply(bob, chat_id, parent, "Friday works for me")
    tree = parse(alice.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True))

    assert tree.by_id(f"m-{parent}") is not None  # the chat, with its messages
    pane = tree.by_id("thread-pane")
    assert pane.get("data-thread") == str(parent)
    assert "Shall we ship on Friday?" in pane.find(cls="thread-parent").text
    assert pane_replies(tree, parent) == ["Friday works for me"]
    form = tree.by_id("thread-composer")
    assert form.get("action") == f"/chats/{chat_id}/threads/{parent}/replies" and form.get("method") == "post"
    assert pane.find(cls="thread-close").get("href").startswith(f"/chats/{chat_id}")
    assert tree.by_id(f"typing-{chat_id}-t{parent}") is not None


def test_htmx_asking_for_the_thread_pane_gets_the_pane_alone(trio):
    chat_id, alice, _, _ = trio
    parent = send(alice, chat_id, "parent")
    html = alice.get(f"/chats/{chat_id}/threads/{parent}", htmx=True, target="thread-pane").get_data(as_text=True)
    tree = parse(html)
    assert tree.by_id("thread-pane") is not None and tree.by_id("messages") is None
    assert html.lstrip().startswith('<section id="thread-pane"')


def test_a_chat_page_has_an_empty_place_for_the_thread_pane(trio):
    chat_id, alice, _, _ = trio
    pane = parse(alice.get(f"/chats/{chat_id}").get_data(as_text=True)).by_id("thread-pane")
    assert pane is not None and "hidden" in pane.attrs and pane.get("data-thread") is None


def test_the_pane_shows_the_newest_replies_and_loads_older_ones_before_them(app, trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "a long thread")
    ids = [reply_id(reply(bob, chat_id, parent, f"reply {n}")) for n in range(55)]

    tree = parse(alice.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True))
    assert pane_replies(tree, parent) == [f"reply {n}" for n in range(5, 55)]
    older = tree.by_id(f"thread-{parent}-older").find("a")
    assert older.get("hx-get") == f"/chats/{chat_id}/threads/{parent}/replies?before={ids[5]}"
    assert older.get("href") == f"/chats/{chat_id}/threads/{parent}?before={ids[5]}"  # without JavaScript

    answer = parse(alice.get(older.get("hx-get"), htmx=True).get_data(as_text=True))
    assert [el.find(cls="msg-body").text.strip() for el in answer.find_all("article")] == [
        f"reply {n}" for n in range(5)]
    assert answer.find(cls="older") is None  # none older still
    assert [el.get("id") for el in answer.find_all("article")] == [f"t-{i}" for i in ids[:5]]

    page = parse(alice.get(f"/chats/{chat_id}/threads/{parent}?before={ids[5]}").get_data(as_text=True))
    assert pane_replies(page, parent) == [f"reply {n}" for n in range(5)]


def test_replies_after_an_id_are_the_catch_up_of_an_open_pane(trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    first = reply_id(reply(bob, chat_id, parent, "first"))
    reply(carol, chat_id, parent, "second")
    send(alice, chat_id, "in the channel meanwhile")
    reply(bob, chat_id, parent, "third")
    answer = parse(alice.get(f"/chats/{chat_id}/threads/{parent}/replies?after={first}", htmx=True)
                   .get_data(as_text=True))
    articles = answer.find_all("article")
    assert [el.find(cls="msg-body").text.strip() for el in articles] == ["second", "third"]
    assert all(el.get("id").startswith("t-") and el.get("data-thread") == str(parent) for el in articles)


def test_a_reply_sent_with_htmx_answers_the_new_replies_and_a_fresh_composer(app, trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    shown = reply_id(reply(bob, chat_id, parent, "seen already"))
    reply(bob, chat_id, parent, "not yet seen")
    client_id = str(uuid.uuid4())
    response = reply(alice, chat_id, parent, "mine", htmx=True, client_id=client_id, after=shown)
    assert response.status_code == 200
    tree = parse(response.get_data(as_text=True))
    bodies = [el.find(cls="msg-body").text.strip() for el in tree.find_all("article")]
    assert bodies == ["not yet seen", "mine"]
    composer = tree.by_id("thread-composer")
    assert composer.get("hx-swap-oob") == "true"
    assert composer.find("textarea").text == ""
    fresh = composer.find("input", name="client_id").get("value")
    assert fresh and fresh != client_id

    # The same send again (a retry) stores nothing new.
    again = reply(alice, chat_id, parent, "mine", htmx=True, client_id=client_id)
    assert again.status_code == 200
    assert [m.body for m in stored_messages(app, chat_id)].count("mine") == 1


def test_a_refused_reply_keeps_the_text_under_the_composer_and_stores_nothing(app, trio):
    chat_id, alice, _, _ = trio
    parent = send(alice, chat_id, "parent")
    before = len(stored_messages(app, chat_id))
    long_text = "x" * 20_000
    response = reply(alice, chat_id, parent, long_text, htmx=True, broadcast=True)
    assert response.status_code in (400, 413, 422)
    assert response.headers["HX-Retarget"] == "#thread-composer"
    form = parse(response.get_data(as_text=True)).by_id("thread-composer")
    assert form.find(cls="form-error").text.strip()
    assert form.find("textarea").text == long_text
    assert "checked" in form.find("input", name="broadcast").attrs  # the choice kept too
    assert len(stored_messages(app, chat_id)) == before

    # Without JavaScript: the chat and thread page again, the text and the words in its form.
    page = reply(alice, chat_id, parent, "   ")
    assert page.status_code in (400, 422)
    form = parse(page.get_data(as_text=True)).by_id("thread-composer")
    assert form.find(cls="form-error").text.strip()
    assert len(stored_messages(app, chat_id)) == before


def test_a_reply_without_javascript_goes_back_to_the_thread_at_the_reply(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    response = reply(bob, chat_id, parent, "plain form")
    assert re.fullmatch(rf"/chats/{chat_id}/threads/{parent}#t-\d+", response.headers["Location"])


def test_replies_of_what_has_no_thread_or_to_a_non_member_are_404(app, trio, actor):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    a_reply = reply_id(reply(bob, chat_id, parent, "a reply"))
    assert alice.get(f"/chats/{chat_id}/threads/{a_reply}/replies?after=0").status_code == 404
    mallory = actor("mallory")
    assert mallory.get(f"/chats/{chat_id}/threads/{parent}/replies?after=0").status_code == 404
    assert mallory.get(f"/chats/{chat_id}/threads/{parent}/replies?before=99").status_code == 404


# ----- over the socket ---------------------------------------------------------------------------

def test_a_view_naming_an_open_thread_replays_its_replies_after_the_panes_newest(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    parent = alice.send(chat, "parent")
    replies = [_reply(bob, chat, parent, f"reply {n}") for n in range(3)]
    tab = alice.open_tab()
    # The channel page is up to date (after the newest reply); the pane shows only the first reply.
    tab.send_json({"type": "view", "chat": chat, "after": max(replies), "changes": 0,
                   "thread": parent, "thread_after": replies[0]})
    frames = tab.collect(1.0)
    thread_frames = [f for f in frames if f'beforeend:#thread-{parent}-replies' in f]
    shown = re.findall(r'<article id="t-(\d+)"', "".join(thread_frames))
    assert [int(i) for i in shown] == replies[1:]


def test_a_view_naming_a_message_without_a_thread_is_refused(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    parent = alice.send(chat, "parent")
    a_reply = _reply(bob, chat, parent, "a reply")
    tab = alice.open_tab()
    tab.send_json({"type": "view", "chat": chat, "after": a_reply, "thread": a_reply, "thread_after": 0})
    tab.wait_for(is_error, timeout=2)


def test_typing_in_a_thread_shows_in_its_pane_and_not_in_the_channel(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    parent = alice.send(chat, "parent")
    alice_tab, bob_tab = alice.open_tab(), bob.open_tab()
    alice_tab.send_json({"type": "typing", "chat": chat, "thread": parent, "state": "start"})
    frame = bob_tab.wait_for(lambda f: f'id="typing-{chat}-t{parent}"' in f, timeout=2)
    assert f'data-user="{alice.username}"' in frame
    assert f'id="typing-{chat}"' not in frame
    alice_tab.send_json({"type": "typing", "chat": chat, "thread": parent, "state": "stop"})
    stopped = bob_tab.wait_for(lambda f: f'id="typing-{chat}-t{parent}"' in f, timeout=2)
    assert "data-user" not in stopped


def _reply(person, chat_id: int, parent_id: int, body: str) -> int:
    response = person.post(f"/chats/{chat_id}/threads/{parent_id}/replies",
                           {"body": body, "client_id": new_client_id()})
    assert response.status == 302, response
    return int(response.location.rsplit("#t-", 1)[1])


def test_an_archived_channels_thread_has_no_composer(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "before the archive")
    assert alice.post(f"/chats/{chat_id}/archive").status_code == 302
    tree = parse(alice.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True))
    assert pane_replies(tree, parent) == ["before the archive"]
    assert tree.by_id("thread-composer") is None
    assert "archived" in tree.by_id("thread-pane").find(cls="archived-notice").text


def test_a_deleted_messages_thread_shows_its_replies_and_no_composer(actor):
    alice, bob = actor("alice"), actor("bob")
    chat_id = create_group(alice, "Team", "bob")
    parent = int(alice.send(chat_id, "soon gone").headers["Location"].rsplit("#m-", 1)[1])
    bob.post(f"/chats/{chat_id}/threads/{parent}/replies", {"body": "kept reply", "client_id": str(uuid.uuid4())})
    alice.post(f"/chats/{chat_id}/messages/{parent}/delete")

    page = bob.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)

    assert "kept reply" in page and "its thread takes no more replies" in page
    assert parse(page).by_id("thread-composer") is None
