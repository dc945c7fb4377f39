"""The socket for programs: /socket opened with an access token, JSON events in and out.

A server of the module's own. On PostgreSQL it has a private Redis: a token revoked from outside
the server (core/tokens.revoke in this process, as the Settings page does in the server's) reaches
its sockets through the control channel, as across workers. On SQLite (no Redis: the pair locks
the database file under load) the session guard checks every 0.3 s and closes them instead.
Tokens are made straight in the server's database with core/tokens.create. Pages are real
WebSocket clients with a cookie (tests/support/wsclient.py); programs are the same client with a
Bearer token and no Origin.
"""
import json
import os
import threading
import time
import uuid

import pytest
import websocket

from .support import services
from .support.wsclient import Person, Tab, confirms, connect, new_client_id, socket_url

POLICY_VIOLATION = 1008


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if not os.environ.get("WEBCHAT_TEST_DATABASE_URL"):
        yield None
        return
    with services.PrivateRedis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis.url


@pytest.fixture(scope="module")
def server(redis_url, tmp_path_factory):
    env = {"REDIS_URL": redis_url} if redis_url else {"WEBCHAT_SESSION_CHECK_SECONDS": "0.3"}
    with services.module_server("program_socket", tmp_path_factory.mktemp("program-socket"), extra_env=env) as live:
        yield live


@pytest.fixture(scope="module")
def side_app(server, redis_url):
    """The app on the server's database (and Redis), in this process: tokens made and revoked here."""
    from webchat import create_app
    from webchat.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": server.env["DATABASE_URL"], "SECRET_KEY": "test",
                      "REDIS_URL": redis_url, "RATELIMIT_ENABLED": False})
    yield app
    with app.app_context():
        db.engine.dispose()


def make_token(side_app, username: str, scope: str = "write") -> tuple[int, str]:
    """A token of the user (core/tokens.create): its id and its secret."""
    from sqlalchemy import select

    from webchat.core import tokens
    from webchat.extensions import db
    from webchat.models import User

    with side_app.app_context():
        try:
            user = db.session.scalar(select(User).where(User.username == username))
            made = tokens.create(user, f"test {scope} {uuid.uuid4().hex[:8]}", scope)
            return made.token.id, made.secret
        finally:
            db.session.remove()


def revoke_token(side_app, token_id: int) -> None:
    from webchat.core import tokens
    from webchat.extensions import db
    from webchat.models import ApiToken

    with side_app.app_context():
        try:
            tokens.revoke(db.session.get(ApiToken, token_id))
        finally:
            db.session.remove()


class Program(Tab):
    """A program's socket: a Bearer token, no Origin, no cookie; frames are JSON events."""

    def __init__(self, base_url: str, secret: str) -> None:
        super().__init__(websocket.create_connection(socket_url(base_url), header=[f"Authorization: Bearer {secret}"],
                                                     suppress_origin=True, timeout=5))

    def event(self, predicate, timeout: float = 3) -> dict:
        return json.loads(self.wait_for(lambda f: predicate(json.loads(f)), timeout))

    def subscribe(self, chat: int, after: int | None = None, changes: int | None = None) -> dict:
        """Subscribe (with a catch-up when cursors are given); the caught-up event."""
        frame = {"type": "subscribe", "chat": chat}
        if after is not None:
            frame["after"] = after
        if changes is not None:
            frame["changes"] = changes
        self.send_json(frame)
        return self.event(lambda e: e["type"] == "caught-up" and e["chat"] == chat)

    def send_text(self, chat: int, text: str, client_id: str | None = None) -> str:
        client_id = client_id or new_client_id()
        self.send_json({"type": "send", "chat": chat, "text": text, "client_id": client_id})
        return client_id

    def events(self, timeout: float) -> list[dict]:
        return [json.loads(f) for f in self.collect(timeout)]


@pytest.fixture
def team(server, side_app):
    """alice (a page) and bob (a program with a read-write token) in one chat; closed afterwards."""
    alice, bob = Person.register(server.url, "alice"), Person.register(server.url, "bob")
    chat = alice.create_chat("Team", [bob])
    token_id, secret = make_token(side_app, bob.username)
    programs: list[Program] = []

    def program(secret_=secret) -> Program:
        made = Program(server.url, secret_)
        programs.append(made)
        return made
    yield alice, bob, chat, token_id, program
    for made in programs:
        made.close()
    alice.close_tabs()


def created_ids(events: list[dict], chat: int) -> list[int]:
    return [e["message"]["id"] for e in events if e["type"] == "message.created" and e["chat"] == chat]


def test_a_program_and_a_page_in_one_chat_see_each_others_messages_live(team):
    alice, bob, chat, _, program = team
    page, bot = alice.open_tab(), program()
    assert bot.subscribe(chat) == {"type": "caught-up", "chat": chat, "after": 0, "changes": 0}

    client_id = page.send(chat, "hello **bot**")
    page.wait_for(lambda f: confirms(f, client_id))
    got = bot.event(lambda e: e["type"] == "message.created")
    message = got["message"]
    assert got["chat"] == chat and message["chat_id"] == chat and message["text"] == "hello **bot**"
    assert "<strong>bot</strong>" in message["html"]
    assert message["author"] == {"id": message["author"]["id"], "username": alice.username,
                                 "display_name": alice.username.title(), "is_bot": False}
    assert message["deleted"] is False and message["edited_at"] is None and message["reactions"] == []

    bot_client_id = bot.send_text(chat, "beep, _boop_")
    sent = bot.event(lambda e: e["type"] == "sent")
    assert sent["client_id"] == bot_client_id and sent["message"]["text"] == "beep, _boop_"
    assert sent["message"]["author"]["username"] == bob.username
    frame = page.wait_for_message(sent["message"]["id"])
    assert "<em>boop</em>" in frame and "beep" in frame
    assert all(not f.lstrip().startswith("{") for f in page.frames), "a page gets HTML, never JSON events"
    assert all(f.startswith("{") for f in bot.frames), "a program gets JSON, never HTML"


def test_a_send_repeated_with_its_client_id_is_stored_once(team):
    alice, _, chat, _, program = team
    before = alice.stored_ids(chat)
    bot = program()
    client_id = bot.send_text(chat, "only once")
    first = bot.event(lambda e: e["type"] == "sent")
    bot.send_text(chat, "only once", client_id)
    again = bot.event(lambda e: e["type"] == "sent")
    assert again["message"]["id"] == first["message"]["id"] and (first["created"], again["created"]) == (True, False)
    assert alice.stored_ids(chat) == [*before, first["message"]["id"]]


def test_catch_up_after_a_cut_gives_exactly_the_missed_messages_once_in_order(team):
    alice, _, chat, _, program = team
    bot = program()
    bot.subscribe(chat)
    first = alice.send(chat, "before the cut")
    assert created_ids([bot.event(lambda e: e["type"] == "message.created")], chat) == [first]
    bot.close()

    missed = [alice.send(chat, f"missed {i}") for i in range(60)]  # more than one replay page
    during: list[int] = []
    writer = alice.clone()
    sending = threading.Thread(target=lambda: during.extend(writer.send(chat, f"during {i}") for i in range(15)))
    bot = program()
    sending.start()  # live while the catch-up reads: each message once, either way
    bot.send_json({"type": "subscribe", "chat": chat, "after": first})
    sending.join(30)
    writer.close_tabs()
    events = []
    deadline = time.monotonic() + 10
    while set(missed + during) - set(created_ids(events, chat)) and time.monotonic() < deadline:
        events += bot.events(0.5)
    events += bot.events(0.5)
    got = created_ids(events, chat)
    assert got == missed + during, "every missed and live message once, in id order"
    caught_up = next(e for e in events if e["type"] == "caught-up")
    assert caught_up["after"] >= missed[-1]


def test_edits_deletions_and_reactions_arrive_as_events_and_catch_up_by_change_cursor(team):
    alice, _, chat, _, program = team
    bot = program()
    bot.subscribe(chat)
    message_id = alice.send(chat, "first draft")
    bot.event(lambda e: e["type"] == "message.created")

    assert alice.post(f"/chats/{chat}/messages/{message_id}/edit", {"body": "final text"}).status == 302
    edited = bot.event(lambda e: e["type"] == "message.changed")["message"]
    assert edited["id"] == message_id and edited["text"] == "final text" and edited["edited_at"]

    assert alice.post(f"/chats/{chat}/messages/{message_id}/reactions", {"emoji": "🎉"}).status == 302
    reacted = bot.event(lambda e: e["type"] == "reaction")
    assert reacted["emoji"] == "🎉" and reacted["added"] is True and reacted["user"]["username"] == alice.username
    assert reacted["message"]["reactions"] == [{"emoji": "🎉", "count": 1, "user_ids": [reacted["user"]["id"]]}]
    cursor = reacted["message"]["change_seq"]
    bot.close()

    assert alice.post(f"/chats/{chat}/messages/{message_id}/delete").status == 302
    other = alice.send(chat, "another")
    assert alice.post(f"/chats/{chat}/messages/{other}/edit", {"body": "another, edited"}).status == 302

    bot = program()
    caught_up = bot.subscribe(chat, after=other, changes=cursor)
    events = [json.loads(f) for f in bot.frames]
    changes = [(e["type"], e["message"]["id"]) for e in events if e["type"].startswith("message.")]
    assert changes == [("message.deleted", message_id), ("message.changed", other)]
    deleted = events[0]["message"]
    assert deleted["deleted"] is True and deleted["text"] == "" and deleted["reactions"] == []
    assert caught_up["changes"] == events[1]["message"]["change_seq"]


def test_typing_and_membership_changes_arrive_as_events(team, server):
    alice, _, chat, _, program = team
    carol = Person.register(server.url, "carol")
    page, bot = alice.open_tab(), program()
    bot.subscribe(chat)
    page.send_json({"type": "typing", "chat": chat, "state": "start"})
    typing = bot.event(lambda e: e["type"] == "typing")
    assert typing["chat"] == chat and typing["typists"] == [{"username": alice.username,
                                                             "display_name": alice.username.title()}]

    assert alice.post(f"/chats/{chat}/members", {"usernames": carol.username}).status == 200  # the members page
    events = [json.loads(f) for f in bot.collect_until(lambda f: json.loads(f)["type"] == "member.joined")]
    joined = events[-1]
    assert [u["username"] for u in joined["users"]] == [carol.username]
    system = next(e for e in events if e["type"] == "message.created" and e["message"]["kind"] == "system")
    assert system["message"]["id"] == joined["message_id"] and carol.username.title() in system["message"]["text"]


def test_a_read_only_token_reads_but_can_not_send(team, side_app):
    alice, bob, chat, _, program = team
    before = alice.stored_ids(chat)
    _, read_only = make_token(side_app, bob.username, "read")
    bot = program(read_only)
    bot.subscribe(chat)
    client_id = bot.send_text(chat, "let me in")
    error = bot.event(lambda e: e["type"] == "error")
    assert error["client_id"] == client_id and error["error"]["code"] == "read_only_token"
    assert "only read" in error["error"]["message"]
    message_id = alice.send(chat, "you can still read this")
    assert created_ids([bot.event(lambda e: e["type"] == "message.created")], chat) == [message_id]
    assert alice.stored_ids(chat) == [*before, message_id]  # nothing of bob's


def test_a_chat_the_program_is_not_in_is_refused(team, server):
    _, _, _, _, program = team
    outsider = Person.register(server.url, "outsider")
    elsewhere = outsider.create_chat("Elsewhere")
    before = outsider.stored_ids(elsewhere)
    bot = program()
    bot.send_json({"type": "subscribe", "chat": elsewhere})
    error = bot.event(lambda e: e["type"] == "error")
    assert error["error"]["code"] == "not_found"
    client_id = bot.send_text(elsewhere, "hi")
    error = bot.event(lambda e: e["type"] == "error")
    assert error["error"]["code"] == "not_found" and error["client_id"] == client_id
    assert outsider.stored_ids(elsewhere) == before


def test_revoking_the_token_closes_its_socket_within_a_second_and_it_can_not_reconnect(team, side_app, server):
    _, _, chat, token_id, program = team
    bot = program()
    bot.subscribe(chat)
    started = time.monotonic()
    revoke_token(side_app, token_id)
    assert bot.wait_closed(timeout=1) == POLICY_VIOLATION
    assert time.monotonic() - started < 1
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        program()
    assert refused.value.status_code == 401


def test_a_token_needs_no_origin_while_a_cookie_socket_still_does(team, server):
    alice, _, chat, _, program = team
    bot = program()  # no Origin header at all
    assert bot.subscribe(chat)["type"] == "caught-up"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(server.url, cookie=alice.session_cookie, suppress_origin=True)
    assert refused.value.status_code == 403


@pytest.mark.parametrize("authorization", ["Bearer wc_not-a-real-token", "Bearer ", "Basic d2M6eA==", "Bearer x"])
def test_a_bad_token_is_refused_with_401_at_the_handshake(server, authorization):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(socket_url(server.url), header=[f"Authorization: {authorization}"],
                                    suppress_origin=True, timeout=5)
    assert refused.value.status_code == 401


def test_a_program_hears_of_a_chat_it_was_removed_from_and_gets_nothing_more_of_it(team):
    alice, bob, chat, _, program = team
    bot = program()
    bot.subscribe(chat)
    assert alice.remove_member(chat, bob.username).status == 200  # the members page
    bot.event(lambda e: e["type"] == "chat.removed" and e["chat"] == chat)
    alice.send(chat, "after bob left")
    assert not created_ids(bot.events(0.5), chat)
    bot.send_json({"type": "subscribe", "chat": chat})
    assert bot.event(lambda e: e["type"] == "error")["error"]["code"] == "not_found"
