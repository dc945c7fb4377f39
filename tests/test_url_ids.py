"""Ids in URLs and socket frames, as a client may type them: a number no row can have (beyond the
database's integers, thousands of digits long) names nothing — "not found" for a URL, a clear
error for a frame — never a 500 with a traceback in the log. Against the live gunicorn server.
"""
import re
import uuid

import pytest

from webchat import create_app
from webchat.routing import IdConverter

from .support.wsclient import Person, is_error

TOO_BIG = [str(2**63), str(2**64 + 1), "9" * 30]
ARGUMENT = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@pytest.fixture(scope="module")
def url_rules(tmp_path_factory):
    db = tmp_path_factory.mktemp("ids") / "urls.db"
    app = create_app({"SECRET_KEY": "enumerating", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db}"})
    return [rule for rule in app.url_map.iter_rules() if rule.arguments and rule.endpoint != "static"]


def test_every_id_in_a_url_is_read_by_the_one_id_converter(url_rules):
    ids = {(rule.rule, name): converter for rule in url_rules
           for converter, name in re.findall(r"<(?:(\w+)[^:>]*:)?(\w+)>", rule.rule) if name.endswith("_id")}
    assert ids, "no route names an id?"
    assert {where: converter for where, converter in ids.items() if converter != "id"} == {}
    assert url_rules[0].map.converters["id"] is IdConverter


@pytest.fixture(scope="module")
def scene(live_server):
    alice, bob = Person.register(live_server.url, "alice"), Person.register(live_server.url, "bob")
    chat = alice.create_chat("Ids", [bob])
    message = alice.send(chat, "hello")
    assert alice.upload(chat, [("dot.png", _png())]).status == 302
    attachment = int(re.search(rf"/chats/{chat}/attachments/(\d+)/", alice.get(f"/chats/{chat}").text)[1])
    yield alice, {"chat_id": str(chat), "message_id": str(message), "attachment_id": str(attachment),
                  "file_id": str(attachment),  # the API's name for it (/api/v1/chats/<chat_id>/files/<file_id>)
                  "filename": "dot.png", "username": bob.username, "version": "00000000",
                  # ids of rows this scene has none of: the other id in the URL is the huge one
                  "hook_id": "1", "token_id": "1", "subscription_id": "1", "invitation_id": "1", "user_id": "1"}
    alice.close_tabs()
    bob.close_tabs()


def _png() -> bytes:
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    return buffer.getvalue()


def _log_size(live_server) -> int:
    live_server.log.flush()
    return live_server.log_path.stat().st_size


def test_a_member_asking_any_url_for_an_id_beyond_the_database_gets_not_found_and_no_traceback(
        live_server, url_rules, scene):
    alice, real = scene
    log_from = _log_size(live_server)
    answers = {}
    for rule in url_rules:
        id_names = [name for name in rule.arguments if name.endswith("_id")]
        for name in id_names:
            for huge in TOO_BIG:
                path = ARGUMENT.sub(lambda m, name=name, huge=huge: huge if m[1] == name else real[m[1]], rule.rule)
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    response = alice.get(path) if method == "GET" else alice.post(path, {"body": "x", "emoji": "👍"})
                    answers[f"{method} {path}"] = response.status
                    assert "Traceback" not in response.text
    assert len(answers) >= 3 * len(url_rules)
    assert {where: status for where, status in answers.items() if status != 404} == {}
    with open(live_server.log_path, errors="replace") as log:
        log.seek(log_from)
        assert "Traceback" not in log.read()


def test_ids_beyond_the_database_in_query_strings_and_forms_read_as_the_newest_not_an_error(live_server, scene):
    alice, real = scene
    chat, huge = real["chat_id"], "9" * 30
    log_from = _log_size(live_server)
    for path in (f"/chats/{chat}?before={huge}", f"/chats/{chat}/messages?after={huge}&changes={huge}",
                 f"/chats/{chat}/messages?before={huge}", f"/search?q=hello&before={huge}"):
        response = alice.get(path)
        assert response.status == 200 and "Traceback" not in response.text, path
    assert alice.post(f"/chats/{chat}/read", {"upto": huge}).status == 204
    assert alice.send(int(chat), "still here")  # nothing was left broken
    with open(live_server.log_path, errors="replace") as log:
        log.seek(log_from)
        assert "Traceback" not in log.read()


def test_socket_frames_with_ids_beyond_the_database_get_a_clear_error_and_the_socket_stays_open(
        live_server, scene):
    alice, real = scene
    chat, message = int(real["chat_id"]), int(real["message_id"])
    tab = alice.open_tab()
    frames = [
        {"type": "view", "chat": 2**63, "after": 0},
        {"type": "view", "chat": "9" * 30, "after": 0},
        {"type": "view", "chat": chat, "after": 2**64},
        {"type": "send", "chat": 2**63, "body": "x", "client_id": uuid.uuid4().hex},
        {"type": "read", "chat": chat, "upto": "9" * 30},
        {"type": "delivered", "chat": 2**70, "upto": message},
        {"type": "typing", "chat": 10**30, "state": "start"},
    ]
    for frame in frames:
        tab.send_json(frame)
        answer = tab.wait_for(lambda f: is_error(f) or "pending--failed" in f)
        assert "must be a whole number" in answer, (frame, answer)
    tab.assert_open()
    tab.close()
