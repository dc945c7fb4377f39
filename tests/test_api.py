"""The JSON API for programs (/api/v1) as a program sees it: Bearer tokens only, JSON in and out,
every operation through the same core as the pages (a message sent here reaches open pages).

Who may call what is tried for every endpoint: no token, a bad one, a revoked one, a read-only
one on a write, a token of someone not in the chat, and a bot's that is not in it. The OpenAPI
document is checked against the live server by tests/test_api_schema.py (Schemathesis).
"""
import io
import uuid

import pytest
from sqlalchemy import select

from webchat import create_app
from webchat.core import tokens
from webchat.extensions import db
from webchat.models import ApiToken, Message, User

from .support.api import call, make_token
from .support.records import create_group
from .support.stored import LiveDatabase, empty_database
from .support.wsclient import message_ids, new_client_id

TEXT_FILE = ("notes.txt", b"deploy at noon\n")


class Program:
    """A program calling the API with one token (or none) through the app's test client."""

    def __init__(self, app, secret: str | None) -> None:
        self.client = app.test_client()
        self.secret = secret

    def request(self, method: str, path: str, json=None, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if self.secret is not None:
            headers.setdefault("Authorization", f"Bearer {self.secret}")
        return self.client.open(path, method=method, json=json, headers=headers, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def upload(self, chat_id: int, files=(TEXT_FILE,), path: str | None = None, **fields):
        data = {**fields, "files": [(io.BytesIO(content), name) for name, content in files]}
        return self.request("POST", path or f"/api/v1/chats/{chat_id}/files", data=data,
                            content_type="multipart/form-data")


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def new_token(app, username: str, scope: str = "write") -> str:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        return tokens.create(user, f"{scope} token {uuid.uuid4().hex[:8]}", scope).secret


def make_bot(app, username: str, owner: str) -> None:
    """A bot row as core/bots.py makes one (owned by a person, in no chat until added)."""
    with app.app_context():
        bot = User(username=username, display_name=username.title(), is_bot=True,
                   bot_owner_id=db.session.scalar(select(User.id).where(User.username == owner)))
        bot.set_password(uuid.uuid4().hex)
        db.session.add(bot)
        db.session.commit()


@pytest.fixture
def scene(app, trio, actor):
    """alice and bob in "Team" (carol too); mallory outside it; alice's bot outside it; alice's
    message in it (with a file) and a token for each of them."""
    chat, alice, bob, carol = trio
    actor("mallory")
    make_bot(app, "deploybot", owner="alice")
    alice.send(chat, "hello team, the release is ready")
    upload = alice.post(f"/chats/{chat}/attachments", {"body": "the notes", "client_id": new_client_id(),
                                                       "files": (io.BytesIO(TEXT_FILE[1]), TEXT_FILE[0])},
                        content_type="multipart/form-data")
    assert upload.status_code == 302
    with app.app_context():
        message = db.session.scalar(select(Message).where(Message.chat_id == chat, Message.kind == "user")
                                    .order_by(Message.id))
        file_id = db.session.scalar(select(Message).where(Message.chat_id == chat).order_by(Message.id.desc())
                                    ).attachments[0].id
        message_id = message.id
    secrets = {"alice": new_token(app, "alice"), "alice_read": new_token(app, "alice", "read"),
               "bob": new_token(app, "bob"), "mallory": new_token(app, "mallory"),
               "bot": new_token(app, "deploybot")}
    revoked = new_token(app, "alice")
    with app.app_context():
        tokens.revoke(db.session.scalar(select(ApiToken).where(ApiToken.secret_hash == tokens.digest(revoked))))
    secrets["revoked"] = revoked
    return {"chat": chat, "message": message_id, "file": file_id, "secrets": secrets, "alice": alice, "bob": bob}


def program(app, scene, who: str | None) -> Program:
    return Program(app, None if who is None else scene["secrets"][who])


# ----- every endpoint x who may call it -----------------------------------------------------------

# (method, path, JSON body or "upload", whether it is about one chat)
ENDPOINTS = [
    ("GET", "/api/v1/me", None, False),
    ("GET", "/api/v1/chats", None, False),
    ("GET", "/api/v1/chats/{chat}", None, True),
    ("GET", "/api/v1/chats/{chat}/members", None, True),
    ("GET", "/api/v1/chats/{chat}/messages?limit=10", None, True),
    ("GET", "/api/v1/chats/{chat}/messages/{message}", None, True),
    ("POST", "/api/v1/chats/{chat}/messages", {"text": "let me in"}, True),
    ("PATCH", "/api/v1/chats/{chat}/messages/{message}", {"text": "rewritten"}, True),
    ("DELETE", "/api/v1/chats/{chat}/messages/{message}", None, True),
    ("POST", "/api/v1/chats/{chat}/messages/{message}/reactions", {"emoji": "👍"}, True),
    ("POST", "/api/v1/chats/{chat}/files", "upload", True),
    ("GET", "/api/v1/chats/{chat}/files/{file}", None, True),
    ("GET", "/api/v1/search?q=release", None, False),
    ("GET", "/api/v1/search?q=release&chat={chat}", None, True),
]
WRITES = {"POST", "PATCH", "DELETE"}


def endpoint_id(endpoint) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


def request_as(app, scene, who, endpoint):
    method, path, body, _ = endpoint
    path = path.format(**scene)
    caller = program(app, scene, who)
    if body == "upload":
        return caller.upload(scene["chat"], path=path, text="let me in")
    return caller.request(method, path, json=body)


def stored_state(app, chat_id: int) -> list:
    """Everything a refused call must leave as it was: the chat's messages, their text, edits,
    deletions, reactions and files."""
    with app.app_context():
        return [(m.id, m.body, m.edited_at, m.deleted_at, sorted(r.emoji for r in m.reactions),
                 [a.id for a in m.attachments])
                for m in db.session.scalars(select(Message).where(Message.chat_id == chat_id).order_by(Message.id))]


def test_the_endpoint_table_covers_every_api_url(app):
    served = {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              and rule.endpoint != "api.openapi" for method in rule.methods - {"HEAD", "OPTIONS"}}
    listed = {(method, path.split("?")[0].replace("{chat}", "<id:chat_id>").replace("{message}", "<id:message_id>")
               .replace("{file}", "<id:file_id>")) for method, path, _, _ in ENDPOINTS}
    assert served == listed


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
@pytest.mark.parametrize(("who", "code"), [(None, "unauthorized"), ("revoked", "invalid_token")])
def test_without_a_live_token_every_endpoint_answers_401_in_json_and_changes_nothing(app, scene, endpoint, who,
                                                                                    code):
    before = stored_state(app, scene["chat"])
    response = request_as(app, scene, who, endpoint)
    assert response.status_code == 401
    assert response.json["error"]["code"] == code
    assert stored_state(app, scene["chat"]) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
@pytest.mark.parametrize("authorization", ["Bearer wc_not-a-token-at-all", "Bearer ", "Basic YWxpY2U6cGFzcw==",
                                           "wc_missing-the-scheme"])
def test_a_bad_token_gets_401_on_every_endpoint(app, scene, endpoint, authorization):
    method, path, body, _ = endpoint
    response = Program(app, None).request(method, path.format(**scene), json=body if body != "upload" else None,
                                          headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json["error"]["code"] in ("unauthorized", "invalid_token")
    assert "release" not in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e[0] in WRITES], ids=endpoint_id)
def test_a_read_only_token_may_not_write_anywhere_403(app, scene, endpoint):
    before = stored_state(app, scene["chat"])
    response = request_as(app, scene, "alice_read", endpoint)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "read_only_token"
    assert stored_state(app, scene["chat"]) == before


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e[3]], ids=endpoint_id)
@pytest.mark.parametrize("who", ["mallory", "bot"])
def test_someone_not_in_the_chat_gets_404_and_learns_nothing_person_or_bot(app, scene, endpoint, who):
    before = stored_state(app, scene["chat"])
    response = request_as(app, scene, who, endpoint)
    assert response.status_code == 404
    assert response.json == {"error": {"code": "not_found",
                                       "message": "There is nothing here, or you don't have access to it."}}
    assert stored_state(app, scene["chat"]) == before


@pytest.mark.parametrize("who", ["mallory", "bot"])
def test_the_chat_list_and_search_of_someone_outside_the_chat_show_nothing_of_it(app, scene, who):
    caller = program(app, scene, who)
    assert caller.get("/api/v1/chats").json == {"chats": []}
    assert caller.get("/api/v1/search?q=release").json == {"results": [], "more_before": None}


def test_the_same_404_for_a_chat_that_does_not_exist(app, scene):
    missing = program(app, scene, "alice").get("/api/v1/chats/999999/messages")
    not_mine = program(app, scene, "mallory").get(f"/api/v1/chats/{scene['chat']}/messages")
    assert (missing.status_code, missing.json) == (not_mine.status_code, not_mine.json)


def test_a_browser_signed_in_with_its_cookie_gets_401_the_api_takes_no_cookie(app, scene):
    alice_browser = scene["alice"]  # signed in: her session cookie travels with every request
    assert alice_browser.get("/chats/list").status_code == 200
    for path in ("/api/v1/me", f"/api/v1/chats/{scene['chat']}/messages"):
        response = alice_browser.client.get(path)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    sent = alice_browser.client.post(f"/api/v1/chats/{scene['chat']}/messages", json={"text": "forged"})
    assert sent.status_code == 401
    assert "forged" not in [m[1] for m in stored_state(app, scene["chat"])]


# ----- what a member gets ----------------------------------------------------------------------------

def test_me_is_the_tokens_user_person_or_bot(app, scene):
    assert program(app, scene, "alice").get("/api/v1/me").json == {
        "id": user_id(app, "alice"), "username": "alice", "display_name": "Alice", "is_bot": False}
    assert program(app, scene, "bot").get("/api/v1/me").json["is_bot"] is True


def test_a_member_reads_the_chat_and_its_members(app, scene):
    alice = program(app, scene, "alice")
    chats = alice.get("/api/v1/chats").json["chats"]
    assert [(c["id"], c["title"], c["kind"]) for c in chats] == [(scene["chat"], "Team", "group")]
    chat = alice.get(f"/api/v1/chats/{scene['chat']}").json
    assert chat == chats[0]
    members = alice.get(f"/api/v1/chats/{scene['chat']}/members").json["members"]
    assert [(m["username"], m["role"]) for m in members] == [("alice", "admin"), ("bob", "member"),
                                                              ("carol", "member")]


def test_history_pages_by_message_ids_as_the_pages_do(app, scene):
    alice = program(app, scene, "alice")
    chat = scene["chat"]
    for i in range(5):
        assert alice.post(f"/api/v1/chats/{chat}/messages", json={"text": f"line {i}"}).status_code == 201
    newest = alice.get(f"/api/v1/chats/{chat}/messages?limit=3").json
    assert [m["text"] for m in newest["messages"]] == ["line 2", "line 3", "line 4"]
    assert newest["more"] is True
    older = alice.get(f"/api/v1/chats/{chat}/messages?limit=3&before={newest['messages'][0]['id']}").json
    assert [m["text"] for m in older["messages"]] == ["the notes", "line 0", "line 1"]
    after = alice.get(f"/api/v1/chats/{chat}/messages?after={older['messages'][0]['id']}").json
    assert [m["text"] for m in after["messages"]] == ["line 0", "line 1", "line 2", "line 3", "line 4"]
    assert after["more"] is False
    everything = alice.get(f"/api/v1/chats/{chat}/messages?after=0&limit=200").json["messages"]
    assert [m["id"] for m in everything] == sorted(m["id"] for m in everything)
    assert everything[0]["kind"] == "system" and everything[0]["author"] is None


@pytest.mark.parametrize(("query", "says"), [
    ("limit=201", "limit"), ("limit=0", "limit"), ("after=-1", "after"), ("before=abc", "before"),
    ("after=1&before=5", "after or before"), ("after=99999999999999999999", "after")])
def test_history_refuses_what_it_cannot_page_by_with_422(app, scene, query, says):
    response = program(app, scene, "alice").get(f"/api/v1/chats/{scene['chat']}/messages?{query}")
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid"
    assert says in response.json["error"]["message"]


def test_a_message_carries_its_source_its_html_its_author_reactions_and_files(app, scene):
    alice = program(app, scene, "alice")
    sent = alice.post(f"/api/v1/chats/{scene['chat']}/messages", json={"text": "**ship** it @bob"})
    message = sent.json
    assert message["text"] == "**ship** it @bob"
    assert "<strong>ship</strong>" in message["html"]
    assert message["author"] == {"id": user_id(app, "alice"), "username": "alice", "display_name": "Alice",
                                 "is_bot": False}
    assert set(message) == {"id", "chat_id", "seq", "kind", "author", "text", "html", "created_at", "edited_at",
                            "change_seq", "deleted", "thread_id", "reply_to_id", "reactions", "attachments"}
    assert message["created_at"].endswith("+00:00")
    with_file = alice.get(f"/api/v1/chats/{scene['chat']}/messages").json["messages"][-2]
    (attachment,) = with_file["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("notes.txt", len(TEXT_FILE[1]))
    assert attachment["url"].endswith(f"/api/v1/chats/{scene['chat']}/files/{attachment['id']}")


def test_sending_by_client_id_is_idempotent_201_then_200_with_the_same_message(app, scene):
    alice = program(app, scene, "alice")
    client_id = new_client_id()
    first = alice.post(f"/api/v1/chats/{scene['chat']}/messages", json={"text": "deploying", "client_id": client_id})
    again = alice.post(f"/api/v1/chats/{scene['chat']}/messages", json={"text": "deploying", "client_id": client_id})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert [m[1] for m in stored_state(app, scene["chat"])].count("deploying") == 1


def test_a_client_id_used_in_another_chat_is_a_409(app, scene):
    alice = program(app, scene, "alice")
    other = create_group(scene["alice"], "Other", "bob")
    client_id = new_client_id()
    assert alice.post(f"/api/v1/chats/{scene['chat']}/messages", json={"text": "a", "client_id": client_id}
                      ).status_code == 201
    response = alice.post(f"/api/v1/chats/{other}/messages", json={"text": "a", "client_id": client_id})
    assert response.status_code == 409


def test_a_page_and_the_api_share_one_client_id_space(app, scene):
    client_id = new_client_id()
    scene["alice"].send(scene["chat"], "from the page", client_id=client_id)
    response = program(app, scene, "alice").post(f"/api/v1/chats/{scene['chat']}/messages",
                                                 json={"text": "from the page", "client_id": client_id})
    assert response.status_code == 200
    assert response.json["text"] == "from the page"


def test_replies_in_threads_and_quotes_go_through_the_same_send(app, scene):
    alice = program(app, scene, "alice")
    chat, parent = scene["chat"], scene["message"]
    reply = alice.post(f"/api/v1/chats/{chat}/messages", json={"text": "in the thread", "thread_id": parent})
    quote = alice.post(f"/api/v1/chats/{chat}/messages", json={"text": "quoting", "reply_to": parent})
    assert (reply.status_code, reply.json["thread_id"]) == (201, parent)
    assert (quote.status_code, quote.json["reply_to_id"]) == (201, parent)
    nested = alice.post(f"/api/v1/chats/{chat}/messages", json={"text": "deeper", "thread_id": reply.json["id"]})
    assert nested.status_code == 422
    assert "one level deep" in nested.json["error"]["message"]


@pytest.mark.parametrize(("body", "says"), [
    ({}, "text"), ({"text": ""}, "Type a message"), ({"text": "x" * 4001}, "limit is 4,000"),
    ({"text": "hi", "client_id": "short"}, "client_id"), ({"text": "hi", "extra": 1}, "extra"),
    ({"text": 5}, "text"), ({"text": "hi", "thread_id": 0}, "thread_id")])
def test_a_send_with_bad_input_is_422_saying_why_and_stores_nothing(app, scene, body, says):
    before = stored_state(app, scene["chat"])
    response = program(app, scene, "alice").post(f"/api/v1/chats/{scene['chat']}/messages", json=body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid"
    assert says in response.json["error"]["message"]
    assert stored_state(app, scene["chat"]) == before


def test_editing_ones_own_message_and_not_someone_elses(app, scene):
    path = f"/api/v1/chats/{scene['chat']}/messages/{scene['message']}"
    edited = program(app, scene, "alice").request("PATCH", path, json={"text": "the release is out"})
    assert edited.status_code == 200
    assert (edited.json["text"], edited.json["edited_at"] is not None) == ("the release is out", True)
    refused = program(app, scene, "bob").request("PATCH", path, json={"text": "bob was here"})
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == "You can only edit your own messages."


def test_deleting_erases_the_text_and_answers_the_deleted_message(app, scene):
    path = f"/api/v1/chats/{scene['chat']}/messages/{scene['message']}"
    assert program(app, scene, "bob").request("DELETE", path).status_code == 403
    deleted = program(app, scene, "alice").request("DELETE", path)
    assert deleted.status_code == 200
    assert (deleted.json["deleted"], deleted.json["text"], deleted.json["html"]) == (True, "", "")
    again = program(app, scene, "alice").request("DELETE", path)
    assert again.status_code == 200
    edit = program(app, scene, "alice").request("PATCH", path, json={"text": "back"})
    assert edit.status_code == 409


def test_a_reaction_toggles_on_and_off(app, scene):
    path = f"/api/v1/chats/{scene['chat']}/messages/{scene['message']}/reactions"
    bob = program(app, scene, "bob")
    on = bob.post(path, json={"emoji": "👍"})
    assert on.status_code == 200
    assert on.json["added"] is True
    assert on.json["message"]["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [user_id(app, "bob")]}]
    off = bob.post(path, json={"emoji": "👍"})
    assert (off.json["added"], off.json["message"]["reactions"]) == (False, [])
    text = bob.post(path, json={"emoji": "nice"})
    assert text.status_code == 422
    assert "single emoji" in text.json["error"]["message"]


def test_a_file_is_sent_as_a_message_and_downloaded_with_the_token(app, scene):
    alice = program(app, scene, "alice")
    client_id = new_client_id()
    sent = alice.upload(scene["chat"], files=[("report.html", b"<script>alert(1)</script>")], text="the report",
                        client_id=client_id)
    assert sent.status_code == 201
    assert sent.json["text"] == "the report"
    (attachment,) = sent.json["attachments"]
    assert attachment["filename"] == "report.html"
    again = alice.upload(scene["chat"], files=[("report.html", b"<script>alert(1)</script>")], text="the report",
                         client_id=client_id)
    assert (again.status_code, again.json["id"]) == (200, sent.json["id"])
    download = program(app, scene, "bob").get(attachment["url"].split("localhost", 1)[1])
    assert download.status_code == 200
    assert download.data == b"<script>alert(1)</script>"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in download.headers["Content-Disposition"]


@pytest.mark.parametrize(("kwargs", "status", "says"), [
    ({"files": []}, 422, "files"),
    ({"files": [("empty.txt", b"")]}, 422, "is empty"),
    ({"files": [(f"f{i}.txt", b"x") for i in range(11)]}, 422, "up to 10 files")])
def test_an_upload_that_cannot_be_sent_says_why_and_stores_nothing(app, scene, kwargs, status, says):
    before = stored_state(app, scene["chat"])
    response = program(app, scene, "alice").upload(scene["chat"], **kwargs)
    assert response.status_code == status
    assert says in response.json["error"]["message"]
    assert stored_state(app, scene["chat"]) == before


def test_search_finds_words_in_the_callers_chats_and_in_one_chat(app, scene):
    alice = program(app, scene, "alice")
    found = alice.get("/api/v1/search?q=release").json
    (hit,) = found["results"]
    assert hit["message"]["id"] == scene["message"]
    assert hit["chat"]["id"] == scene["chat"]
    assert "<mark>release</mark>" in hit["snippet"]
    other = create_group(scene["alice"], "Elsewhere", "bob")
    assert alice.get(f"/api/v1/search?q=release&chat={other}").json["results"] == []
    assert alice.get(f"/api/v1/search?q=release&chat={scene['chat']}").json["results"] == found["results"]
    assert alice.get("/api/v1/search?q=%20%20").status_code == 422
    assert alice.get("/api/v1/search").status_code == 422


# ----- errors are JSON everywhere ---------------------------------------------------------------

def test_routing_errors_under_the_api_are_json_404_and_405(app, scene):
    alice = program(app, scene, "alice")
    for response, status in ((alice.get("/api/v1/nothing-here"), 404), (alice.get("/api/v1/chats/abc"), 404),
                             (alice.request("PUT", "/api/v1/me"), 405),
                             (alice.request("DELETE", f"/api/v1/chats/{scene['chat']}"), 405)):
        assert response.status_code == status
        assert response.mimetype == "application/json"
        assert set(response.json["error"]) == {"code", "message"}


def test_a_body_that_is_not_json_is_415_and_broken_json_400(app, scene):
    alice = program(app, scene, "alice")
    path = f"/api/v1/chats/{scene['chat']}/messages"
    form = alice.request("POST", path, data={"text": "as a form"})
    assert (form.status_code, form.json["error"]["code"]) == (415, "unsupported_media_type")
    plain = alice.request("POST", path, data="hello", content_type="text/plain")
    assert plain.status_code == 415
    broken = alice.request("POST", path, data='{"text": ', content_type="application/json")
    assert (broken.status_code, broken.json["error"]["code"]) == (400, "invalid_json")
    files_as_json = alice.post(f"/api/v1/chats/{scene['chat']}/files", json={"text": "no files"})
    assert files_as_json.status_code == 415


def test_a_json_body_past_its_limit_is_413(app, scene):
    alice = program(app, scene, "alice")
    response = alice.post(f"/api/v1/chats/{scene['chat']}/messages", json={"text": "x" * (65 * 1024)})
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"


def test_an_upload_past_the_servers_limit_is_413_in_json(app, scene):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = program(app, scene, "alice").upload(scene["chat"], files=[("big.bin", b"x" * 4096)])
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"


def test_an_unexpected_failure_under_the_api_is_a_json_500_without_a_traceback(app):
    def boom():
        raise RuntimeError("secret internals")
    app.add_url_rule("/api/v1/boom-for-the-test", "boom", boom)  # a fresh app: before its first request
    response = Program(app, None).get("/api/v1/boom-for-the-test")
    assert response.status_code == 500
    assert response.json["error"]["code"] == "server_error"
    assert "secret internals" not in response.get_data(as_text=True)


# ----- limits --------------------------------------------------------------------------------

@pytest.fixture
def limited_app(_schema):
    """The app with its rate limits on, small enough to reach."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": _schema,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "RATELIMIT_ENABLED": True,
                      "RATELIMIT_STORAGE_URI": "memory://", "API_RATE_LIMIT": "5 per minute",
                      "API_SEND_LIMIT": "2 per minute", "SEND_LIMIT": "1000 per minute", "WORK_PER_SECOND": 0})
    with app.app_context():
        for name in ("alice", "bob"):
            user = User(username=name, display_name=name.title())
            user.set_password("password123")
            db.session.add(user)
        db.session.commit()
    yield app
    empty_database(app)


def test_a_token_past_its_rate_limit_gets_429_with_retry_after_and_other_tokens_go_on(limited_app):
    alice, other = Program(limited_app, new_token(limited_app, "alice")), Program(limited_app, None)
    other.secret = new_token(limited_app, "bob")
    assert [alice.get("/api/v1/me").status_code for _ in range(5)] == [200] * 5
    refused = alice.get("/api/v1/me")
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert other.get("/api/v1/me").status_code == 200


def test_writes_have_a_tighter_limit_of_their_own(limited_app):
    with limited_app.test_request_context():
        from webchat.core import service
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        chat = service.create_group(alice, "Limits", "bob").id
    program = Program(limited_app, new_token(limited_app, "alice"))
    sends = [program.post(f"/api/v1/chats/{chat}/messages", json={"text": f"n{i}"}).status_code for i in range(3)]
    assert sends == [201, 201, 429]
    assert program.get(f"/api/v1/chats/{chat}/messages").status_code == 200  # reading goes on


def test_the_persons_send_budget_applies_to_the_api_too_429_with_retry_after(limited_app):
    limited_app.config.update(API_SEND_LIMIT="100 per minute", SEND_LIMIT="1 per minute")
    with limited_app.test_request_context():
        from webchat.core import service
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        chat = service.create_group(alice, "Budget", "bob").id
    program = Program(limited_app, new_token(limited_app, "alice"))
    assert program.post(f"/api/v1/chats/{chat}/messages", json={"text": "one"}).status_code == 201
    refused = program.post(f"/api/v1/chats/{chat}/messages", json={"text": "two"})
    assert refused.status_code == 429
    assert "sending messages too fast" in refused.json["error"]["message"]
    assert int(refused.headers["Retry-After"]) >= 1


# ----- the document ----------------------------------------------------------------------------------

def test_the_openapi_document_is_public_and_describes_every_endpoint_with_its_errors(app):
    document = app.test_client().get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    described = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    served = {(method, rule.rule.replace("<id:", "{").replace(">", "}")) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == served
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "422", "429", "500"):
                assert responses[status]["content"]["application/json"]["schema"] == error, (method, path, status)
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
            if method in ("post", "patch", "delete"):
                assert {"403", "413", "415"} <= set(responses), (method, path)


# ----- live: the API and a page in one chat ---------------------------------------------------------------

def test_a_message_sent_through_the_api_reaches_an_open_page_live_and_a_page_send_is_read_back(live_server,
                                                                                                people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Live API", [bob])
    stored = LiveDatabase(live_server)
    try:
        secret = make_token(stored, bob.username)
    finally:
        stored.close()
    tab = alice.open_tab()
    text = f"deployed {uuid.uuid4().hex[:6]}"
    sent = call(live_server.url, "POST", f"/api/v1/chats/{chat}/messages", secret, {"text": text})
    assert sent.status == 201
    frame = tab.wait_for_message(sent.json["id"], timeout=5)
    assert message_ids(frame, chat) == [sent.json["id"]]
    assert text in frame and f'data-chat="{chat}"' in frame
    page_message = alice.send(chat, "thanks, bot")
    history = call(live_server.url, "GET", f"/api/v1/chats/{chat}/messages?after={sent.json['id']}", secret)
    assert [(m["id"], m["text"]) for m in history.json["messages"]] == [(page_message, "thanks, bot")]


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e[3]], ids=endpoint_id)
def test_an_id_past_the_databases_integers_but_within_the_urls_18_digits_is_404(app, scene, endpoint):
    huge = 5_618_403_304_949_264  # a PostgreSQL integer column can't even be compared with it
    method, path, body, _ = endpoint
    for name in ("chat", "message", "file"):
        if "{" + name + "}" not in path:
            continue
        response = request_as(app, scene, "alice", (method, path.replace("{" + name + "}", str(huge)), body, True))
        assert response.status_code == 404, (name, response.json)
