"""A page's poll (GET /chats/<id>/messages?after=&changes=) when nothing is new, and when something is.

Every open page polls, and almost every poll finds nothing: that answer comes from the chat row
alone (pages/chats.answer_idle_poll). These tests hold it to what the full answer says.
"""
import re

import pytest
from sqlalchemy import event

from webchat.extensions import db

from .support.records import create_group, post_reply, stored_messages

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
