"""Webhooks (issue 25): incoming URLs that post as a bot, outgoing posts to a real local receiver,
signed, filtered by trigger word, answered back, retried off the send path, and never sent to the
server's own network (SSRF) unless an administrator allow-lists the host.

In-process tests drive the notifier by hand (notifier.run_once); the live ones run gunicorn with
its own notifier, the allow-list of 127.0.0.1 and a low limit per incoming URL."""
import hashlib
import hmac
import json
import logging
import socket
import time
import urllib.request
from datetime import timedelta
from urllib.error import HTTPError
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from webchat.core import notifier, outbound, webhooks
from webchat.extensions import db
from webchat.models import Notification, User, Webhook, utcnow

from .support import services
from .support.pages import form_error, messages, parse, system_messages, text_of
from .support.receiver import Receiver
from .support.records import stored_messages
from .support.wsclient import People, messages_in

# ----- helpers ------------------------------------------------------------------------------------


def add_incoming(admin, chat_id: int, name: str = "Deploys") -> str:
    """The path of a new incoming webhook's URL, as its members page shows it once."""
    page = admin.post(f"/chats/{chat_id}/webhooks/incoming", {"name": name})
    assert page.status_code == 200, form_error(page)
    url = parse(page).find("input", cls="hook-url").get("value")
    return urlsplit(url).path


def add_outgoing(admin, chat_id: int, url: str, name: str = "Helper", trigger: str = "") -> str:
    """A new outgoing webhook's signing secret, as its members page shows it."""
    page = admin.post(f"/chats/{chat_id}/webhooks/outgoing", {"name": name, "url": url, "trigger": trigger})
    assert page.status_code == 200, form_error(page)
    hook = parse(page).find_all("li", cls="new")
    assert hook, text_of(page)
    return hook[0].find("code", cls="hook-secret").text


def deliver_all(app) -> None:
    """One notifier round, as each worker's notifier runs it."""
    with app.test_request_context(base_url="http://chat.example"):
        notifier.run_once()


def rows(app, kind: str = "webhook") -> list[tuple[str, int]]:
    with app.app_context():
        return [(r.state, r.attempts) for r in db.session.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id))]


def readable(person, chat_id: int) -> list[tuple[str, str]]:
    """(author's name, text) of the chat's messages as the person's chat page shows them."""
    shown = []
    for article in messages(person.get(f"/chats/{chat_id}")):
        author = article.find(cls="msg-author")
        body = article.find("div", cls="msg-body")
        if author is not None and body is not None:
            shown.append((" ".join(author.text.split()), " ".join(body.text.split())))
    return shown


@pytest.fixture
def allow_local(app):
    app.config["WEBHOOK_ALLOWED_HOSTS"] = ["127.0.0.1"]
    return app


@pytest.fixture
def receiver():
    with Receiver() as hook:
        yield hook


# ----- incoming -----------------------------------------------------------------------------------

def test_an_incoming_webhook_posts_slack_shaped_json_as_its_bot_and_members_read_it(trio, client):
    chat, alice, bob, _ = trio
    path = add_incoming(alice, chat, "Deploys")
    answer = client.post(path, json={"text": "Deployed *v1.2*", "username": "ignored", "icon_emoji": ":rocket:"})
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "ok")
    assert ("Deploys", "Deployed v1.2") in readable(bob, chat)
    assert "Alice added the webhook Deploys" in system_messages(bob.get(f"/chats/{chat}"))
    # The URL was shown once: the members page does not show it again, to anyone.
    assert urlsplit(path).path.split("/")[-1] not in alice.get(f"/chats/{chat}/members").get_data(as_text=True)


def test_an_incoming_webhook_takes_a_form_text_field_or_a_slack_payload_field(trio, client):
    chat, alice, bob, _ = trio
    path = add_incoming(alice, chat, "CI")
    assert client.post(path, data={"text": "Build 7 passed"}).status_code == 200
    assert client.post(path, data={"payload": json.dumps({"text": "Build 8 failed"})}).status_code == 200
    shown = readable(bob, chat)
    assert ("CI", "Build 7 passed") in shown and ("CI", "Build 8 failed") in shown


def test_a_repeated_request_id_posts_one_message(trio, client, app):
    chat, alice, _, _ = trio
    path = add_incoming(alice, chat)
    for _ in range(2):
        assert client.post(path, json={"text": "once"}, headers={"X-Request-Id": "deploy-0001-abcd"}).status_code == 200
    assert client.post(path, json={"text": "twice?", "client_id": "deploy-0001-abcd"}).status_code == 200
    assert [m.body for m in stored_messages(app, chat) if m.kind == "user"] == ["once"]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"data": "{not json", "content_type": "application/json"}, 400, "Send JSON"),
    ({"json": ["a", "list"]}, 400, "JSON object"),
    ({"json": {"attachments": []}}, 400, '"text"'),
    ({"json": {"text": 42}}, 422, '"text"'),
    ({"json": {"text": "   "}}, 422, "Type a message"),
    ({"json": {"text": "x" * 4001}}, 422, "the limit is 4,000"),
    ({"data": json.dumps({"text": "y" * 70_000}), "content_type": "application/json"}, 413, "larger than"),
    ({"json": {"text": "hi", "client_id": "no spaces allowed"}}, 400, "id is malformed"),
], ids=["bad json", "not an object", "no text", "text not a string", "empty", "too long", "huge body", "bad id"])
def test_a_bad_body_is_refused_in_json_and_posts_nothing(trio, client, app, body, status, words):
    chat, alice, _, _ = trio
    path = add_incoming(alice, chat)
    before = stored_messages(app, chat)
    answer = client.post(path, **body)
    assert answer.status_code == status
    assert words in answer.get_json()["error"]["message"]
    assert stored_messages(app, chat) == before


def test_an_unknown_or_revoked_webhook_url_is_404_and_its_bot_leaves_the_chat(trio, client, app):
    chat, alice, bob, _ = trio
    path = add_incoming(alice, chat, "Deploys")
    assert client.post(path, json={"text": "before"}).status_code == 200
    with app.app_context():
        hook_id = db.session.scalar(select(Webhook.id))
    page = alice.post(f"/chats/{chat}/webhooks/{hook_id}/revoke")
    assert "Webhook Deploys revoked." in text_of(page)
    for url in (path, path[:-3] + "xyz", "/hooks/nothing-like-a-secret-but-long-enough"):
        answer = client.post(url, json={"text": "after"})
        assert answer.status_code == 404, url
        assert answer.get_json()["error"]["code"] == "not_found"
    shown = readable(bob, chat)
    assert ("Deploys", "before") in shown and all(text != "after" for _, text in shown)
    assert "@hook-deploys" not in text_of(bob.get(f"/chats/{chat}/members"))


def test_an_archived_chat_refuses_its_webhook(trio, client, app):
    chat, alice, _, _ = trio
    path = add_incoming(alice, chat)
    assert alice.post(f"/chats/{chat}/archive").status_code < 400
    answer = client.post(path, json={"text": "into the archive"})
    assert answer.status_code == 403 and "archived" in answer.get_json()["error"]["message"]


def test_only_the_chats_admins_manage_its_webhooks_and_the_secrets_show_to_them_alone(trio, app, allow_local,
                                                                                        receiver):
    chat, alice, bob, _ = trio
    secret = add_outgoing(alice, chat, receiver.url)
    assert secret.startswith("whsec_") and secret in alice.get(f"/chats/{chat}/members").get_data(as_text=True)
    members_page = bob.get(f"/chats/{chat}/members").get_data(as_text=True)
    assert secret not in members_page and "Integrations" not in members_page
    refused = bob.post(f"/chats/{chat}/webhooks/incoming", {"name": "Sneaky"})
    assert refused.status_code == 403 and "admins" in form_error(refused)


def test_a_webhook_name_that_looks_like_a_persons_is_refused(trio, app):
    chat, alice, _, _ = trio
    page = alice.post(f"/chats/{chat}/webhooks/incoming", {"name": "B0b"})
    assert page.status_code == 422 and "looks too much like a person's (@bob)" in form_error(page)
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.is_bot)) is None


# ----- outgoing -----------------------------------------------------------------------------------

def test_an_outgoing_webhook_posts_each_persons_message_signed_with_its_secret(trio, allow_local, receiver):
    chat, alice, bob, _ = trio
    secret = add_outgoing(alice, chat, receiver.url)
    bob.send(chat, "Is the build green?")
    deliver_all(allow_local)
    [request] = receiver.wait_for(1)
    timestamp = request.headers["X-Webchat-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Webchat-Signature"] == f"t={timestamp},v1={expected}"
    assert abs(int(timestamp) - time.time()) < 300
    event = request.json
    assert event["type"] == "message.created"
    assert event["message"]["text"] == "Is the build green?" and "<p>" in event["message"]["html"]
    assert event["message"]["author"]["username"] == "bob" and event["chat"]["id"] == chat
    assert event["webhook"]["bot"]["username"] == "hook-helper"
    assert rows(allow_local) == [("sent", 1)]


def test_with_a_trigger_word_only_messages_starting_with_it_or_mentioning_the_bot_are_posted(trio, allow_local,
                                                                                               receiver):
    chat, alice, bob, _ = trio
    add_outgoing(alice, chat, receiver.url, name="Deployer", trigger="!deploy")
    for text in ("hello", "!deploy web", "!DEPLOY api", "please !deploy", "!deployment", "@hook-deployer status?"):
        bob.send(chat, text)
    deliver_all(allow_local)  # delivers one by one, each answered before the round ends
    assert sorted(r.json["message"]["text"] for r in receiver.requests) == [
        "!DEPLOY api", "!deploy web", "@hook-deployer status?"]


def test_a_reply_in_the_answer_is_posted_back_as_the_bot_and_not_sent_out_again(trio, allow_local, receiver):
    chat, alice, bob, _ = trio
    add_outgoing(alice, chat, receiver.url, name="Pinger", trigger="!ping")
    receiver.answer(200, {"text": "pong"})
    bob.send(chat, "!ping")
    deliver_all(allow_local)
    assert ("Pinger", "pong") in readable(bob, chat)
    deliver_all(allow_local)  # the bot's own message is no one's to post: no loop
    assert len(receiver.requests) == 1


def test_a_failing_receiver_is_retried_after_a_while_and_gets_the_message_once(trio, allow_local, receiver):
    chat, alice, bob, _ = trio
    add_outgoing(alice, chat, receiver.url)
    receiver.answer(500)
    receiver.answer(200, {"text": "got it"})
    bob.send(chat, "are you there?")
    deliver_all(allow_local)
    assert len(receiver.wait_for(1)) == 1 and rows(allow_local) == [("due", 1)]
    deliver_all(allow_local)  # not due yet: the backoff holds it
    assert len(receiver.requests) == 1
    with allow_local.app_context():  # the backoff's five seconds have passed
        db.session.execute(update(Notification).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    deliver_all(allow_local)
    deliver_all(allow_local)
    assert [r.json["message"]["text"] for r in receiver.requests] == ["are you there?", "are you there?"]
    assert rows(allow_local) == [("sent", 2)]
    assert [text for who, text in readable(bob, chat) if who == "Helper"] == ["got it"]


def test_a_revoked_outgoing_webhook_is_sent_nothing_more(trio, allow_local, receiver):
    chat, alice, bob, _ = trio
    add_outgoing(alice, chat, receiver.url)
    with allow_local.app_context():
        hook_id = db.session.scalar(select(Webhook.id))
    bob.send(chat, "queued before the revocation")
    alice.post(f"/chats/{chat}/webhooks/{hook_id}/revoke")
    bob.send(chat, "after it")
    deliver_all(allow_local)
    assert receiver.requests == []


# ----- SSRF ---------------------------------------------------------------------------------------

LOOPBACK_V6 = socket.has_ipv6
try:
    socket.socket(socket.AF_INET6).bind(("::1", 0))
except OSError:
    LOOPBACK_V6 = False

SSRF_TARGETS = [
    ("http://127.0.0.1:{port}/hook", "127.0.0.1 resolves to 127.0.0.1, a loopback address"),
    ("http://10.0.0.5/hook", "10.0.0.5 resolves to 10.0.0.5, a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 resolves to 169.254.169.254, a link-local address"),
    ("http://[::1]:{port}/hook", "::1 resolves to ::1, a loopback address"),
    ("http://localhost:{port}/hook", "localhost resolves to"),
]


@pytest.mark.parametrize(("url", "reason"), SSRF_TARGETS, ids=["127.0.0.1", "10.0.0.5", "metadata", "[::1]",
                                                               "localhost"])
def test_a_webhook_to_the_servers_own_network_is_refused_when_it_is_made(trio, app, url, reason):
    chat, alice, _, _ = trio
    page = alice.post(f"/chats/{chat}/webhooks/outgoing", {"name": "Probe", "url": url.format(port=9)})
    assert page.status_code == 422
    assert form_error(page).startswith(f"Webhooks can't post to that address: {reason}")
    with app.app_context():
        assert db.session.scalar(select(Webhook.id)) is None
        assert db.session.scalar(select(User.id).where(User.is_bot)) is None


@pytest.mark.parametrize(("url", "reason"), SSRF_TARGETS, ids=["127.0.0.1", "10.0.0.5", "metadata", "[::1]",
                                                               "localhost"])
def test_a_webhook_whose_host_is_no_longer_allowed_is_refused_at_connect_time_and_sent_nothing(
        trio, app, caplog, url, reason):
    """Made while an administrator allow-listed its host, then the allow-list was lifted: the
    connection is refused at send time, said in the log, and the row fails without retries."""
    chat, alice, bob, _ = trio
    local_host = "::1" if "[::1]" in url else "127.0.0.1"
    if local_host == "::1" and not LOOPBACK_V6:
        pytest.skip("no IPv6 loopback here")
    with Receiver(local_host) as target:
        url = url.format(port=target.port)
        app.config["WEBHOOK_ALLOWED_HOSTS"] = [outbound.host_of(url)]
        add_outgoing(alice, chat, url)
        app.config["WEBHOOK_ALLOWED_HOSTS"] = []
        bob.send(chat, "a secret plan")
        with caplog.at_level(logging.INFO, logger="webchat.core.webhooks"):
            deliver_all(app)
        assert rows(app) == [("failed", 1)]
        refused = [r.getMessage() for r in caplog.records if "webhook.refused" in r.getMessage()]
        assert len(refused) == 1 and reason in refused[0]
        assert "a secret plan" not in caplog.text
        assert target.requests == []


def test_a_redirect_from_an_allowed_host_to_a_loopback_name_is_not_followed(trio, allow_local, caplog):
    chat, alice, bob, _ = trio
    with Receiver() as first, Receiver() as second:
        first.answer(302, "", {"Location": f"http://localhost:{second.port}/internal"})
        add_outgoing(alice, chat, first.url)
        bob.send(chat, "follow me")
        with caplog.at_level(logging.WARNING, logger="webchat.core.webhooks"):
            deliver_all(allow_local)
        assert len(first.requests) == 1 and second.requests == []
        assert rows(allow_local) == [("failed", 1)]
        assert "localhost resolves to" in caplog.text and "a loopback address" in caplog.text


def test_a_redirect_to_another_allowed_address_is_followed_with_the_same_signed_body(trio, allow_local):
    chat, alice, bob, _ = trio
    with Receiver() as first, Receiver() as second:
        first.answer(307, "", {"Location": f"http://127.0.0.1:{second.port}/moved"})
        add_outgoing(alice, chat, first.url)
        bob.send(chat, "moved")
        deliver_all(allow_local)
        [hop] = second.wait_for(1)
        assert hop.path == "/moved" and hop.body == first.requests[0].body
        assert hop.headers["X-Webchat-Signature"] == first.requests[0].headers["X-Webchat-Signature"]


def test_the_guard_checks_every_address_a_name_resolves_to_with_the_resolver_at_connect_time(receiver):
    """A name that resolved to a public address when the hook was made and to loopback now (DNS
    rebinding), or to one public and one private address: refused before any connection."""
    def resolver(answers):
        def resolve(host, port):
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in answers]
        return resolve

    for answers, why in ((["127.0.0.1"], "loopback"), (["93.184.216.34", "10.1.2.3"], "private"),
                         (["::ffff:169.254.169.254"], "link-local"), (["fd00::1"], "private"),
                         (["224.0.0.1"], "multicast"), (["0.0.0.0"], "unspecified"), (["100.64.0.1"], "non-public"),
                         (["64:ff9b::a00:5"], "private"), (["2002:7f00:1::"], "loopback")):
        with pytest.raises(outbound.Refused, match=f"a {why} address"):
            outbound.safe_addresses("hooks.example.com", 443, frozenset(), resolver(answers))
    assert outbound.safe_addresses("hooks.example.com", 443, frozenset(), resolver(["93.184.216.34"]))
    assert outbound.safe_addresses("intranet.example", 80, frozenset({"intranet.example"}), resolver(["10.0.0.5"]))
    delivery = webhooks.Delivery(1, 1, f"http://rebound.example:{receiver.port}/hook", b"{}", {})
    webhooks.deliver(delivery, 2, frozenset(), resolver(["127.0.0.1"]))
    assert delivery.outcome == "failed" and receiver.requests == []
    allowed = webhooks.Delivery(2, 1, f"http://rebound.example:{receiver.port}/hook", b"{}", {})
    webhooks.deliver(allowed, 2, frozenset({"rebound.example"}), resolver(["127.0.0.1"]))
    assert allowed.outcome == "sent" and len(receiver.requests) == 1


# ----- live: a real server with its own notifier --------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"WEBCHAT_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "WEBCHAT_WEBHOOK_INCOMING_LIMIT": "3 per minute",
           "WEBCHAT_WEBHOOK_TIMEOUT_SECONDS": "20"}
    with services.module_server("webhooks", tmp_path_factory.mktemp("webhooks"), extra_env=env) as live:
        yield live


@pytest.fixture
def team(server):
    people = People(server.url)
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Ops", [bob])
    yield chat, alice, bob
    people.close()


def post_json(url: str, body: dict) -> tuple[int, dict | str, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_live_a_page_sees_an_incoming_webhooks_message_and_a_fourth_post_in_a_minute_is_429(server, team):
    chat, alice, bob = team
    page = alice.post(f"/chats/{chat}/webhooks/incoming", {"name": "Alerts"})
    url = server.url + urlsplit(parse(page.text).find("input", cls="hook-url").get("value")).path
    tab = bob.open_tab()
    tab.view(chat)
    assert post_json(url, {"text": "Disk at 91%"})[:2] == (200, "ok")
    frame = tab.wait_for(lambda f: any("Disk at 91%" in m["html"] for m in messages_in(f)), timeout=5)
    assert [m["author"][:11] for m in messages_in(frame)] == ["hook-alerts"]
    assert post_json(url, {"text": "two"})[0] == 200 and post_json(url, {"text": "three"})[0] == 200
    status, error, headers = post_json(url, {"text": "four"})
    assert status == 429 and error["error"]["code"] == "rate_limited" and int(headers["Retry-After"]) > 0


def test_live_a_slow_receiver_holds_up_no_send_and_gets_its_message(server, team):
    chat, alice, bob = team
    with Receiver() as slow:
        slow.hold()
        page = alice.post(f"/chats/{chat}/webhooks/outgoing", {"name": "Slowpoke", "url": slow.url, "trigger": ""})
        assert page.status == 200, page
        tab = alice.open_tab()
        tab.view(chat)
        bob.send(chat, "first")
        slow.wait_for(1)  # the receiver holds the request for "first" unanswered ...
        bob.send(chat, "second")  # ... and sending answers all the same,
        tab.wait_for(lambda f: any("second" in m["html"] for m in messages_in(f)), timeout=5)  # live
        assert len(slow.requests) == 1
        slow.release()
        texts = [r.json["message"]["text"] for r in slow.wait_for(2)]
        assert texts == ["first", "second"]
