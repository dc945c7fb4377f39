"""Turning Web Push on and off for a device (webchat/auth/push.py over core/push.py): what a
browser's PushSubscription posts, what Settings then lists, what is refused (and that nothing is
stored then), and the service worker's URL, served from the root with the headers it needs."""
import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from webchat.auth.push import device_name
from webchat.core.push import MAX_DEVICES, MAX_ENDPOINT
from webchat.extensions import db
from webchat.models import PushSubscription, User

from .support.pages import parse

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_keys() -> dict:
    """What a browser's subscription carries: its P-256 public key and a 16-byte auth secret."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"p256dh": b64(point), "auth": b64(os.urandom(16))}


def subscription(endpoint: str | None = None, **keys) -> dict:
    """pushSubscription.toJSON(), as static/push.js posts it."""
    return {"endpoint": endpoint or f"https://push.example.net/send/{b64(os.urandom(12))}", "expirationTime": None,
            "keys": {**browser_keys(), **keys}}


def turn_on(actor, body: dict, user_agent: str = CHROME_LINUX, csrf: bool = True):
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    if csrf:
        headers["X-CSRFToken"] = actor.csrf()
    return actor.client.post("/settings/push", json=body, headers=headers)


def stored(app, username: str | None = None) -> list[tuple]:
    with app.app_context():
        query = select(User.username, PushSubscription.endpoint, PushSubscription.p256dh, PushSubscription.device) \
            .join(User, User.id == PushSubscription.user_id).order_by(PushSubscription.id)
        if username:
            query = query.where(User.username == username)
        return [tuple(row) for row in db.session.execute(query)]


def listed_devices(actor) -> list[str]:
    section = parse(actor.get("/settings").get_data(as_text=True)).find(cls="push-devices")
    return [item.find(cls="push-device-name").text.strip() for item in section.find_all("li", cls="push-device")]


def remove_url(actor, device: str) -> str:
    section = parse(actor.get("/settings").get_data(as_text=True)).find(cls="push-devices")
    for item in section.find_all("li", cls="push-device"):
        if item.find(cls="push-device-name").text.strip() == device:
            return item.find("form").get("action")
    raise AssertionError(f"{device} is not listed")


def test_a_browser_that_subscribes_is_listed_in_settings_by_its_name(app, actor):
    alice = actor("alice")
    body = subscription()

    answer = turn_on(alice, body)

    assert answer.status_code == 201
    assert answer.get_json()["message"] == "Notifications are on for Chrome on Linux."
    assert stored(app) == [("alice", body["endpoint"], body["keys"]["p256dh"], "Chrome on Linux")]
    assert listed_devices(alice) == ["Chrome on Linux"]


def test_subscribing_again_from_the_same_browser_renews_its_one_device(app, actor):
    alice = actor("alice")
    first = subscription()
    turn_on(alice, first)
    renewed = subscription(first["endpoint"])  # the browser's keys changed, its endpoint did not

    assert turn_on(alice, renewed, user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 "
                                             "Firefox/133.0").status_code == 201

    assert stored(app) == [("alice", first["endpoint"], renewed["keys"]["p256dh"], "Firefox on Linux")]
    assert listed_devices(alice) == ["Firefox on Linux"]


def test_a_browser_someone_else_signs_in_to_becomes_theirs(app, actor):
    alice, bob = actor("alice"), actor("bob")
    shared = subscription()
    turn_on(alice, shared)

    assert turn_on(bob, subscription(shared["endpoint"])).status_code == 201

    assert [row[0] for row in stored(app)] == ["bob"]
    assert listed_devices(alice) == []
    assert listed_devices(bob) == ["Chrome on Linux"]


@pytest.mark.parametrize(("change", "words"), [
    ({"keys": {"p256dh": "not-a-key", "auth": "c2VjcmV0c2VjcmV0c2Vj"}}, "push keys are malformed"),
    ({"keys": {"auth": "c2VjcmV0c2VjcmV0c2Vj"}}, "push keys are malformed"),
    ({"keys": None}, "push keys are malformed"),
    ({"endpoint": "http://push.example.net/send/abc"}, "push address is not one we can send to"),
    ({"endpoint": "javascript:alert(1)"}, "push address is not one we can send to"),
    ({"endpoint": "https://push.example.net/" + "a" * MAX_ENDPOINT}, "push address is not one we can send to"),
    ({"endpoint": None}, "push address is not one we can send to"),
], ids=["bad p256dh", "no p256dh", "no keys", "plain http", "not a URL", "too long", "no endpoint"])
def test_a_subscription_that_is_not_one_is_refused_with_the_reason_and_nothing_is_stored(app, actor, change, words):
    alice = actor("alice")
    body = {**subscription(), **change}

    answer = turn_on(alice, body)

    assert answer.status_code == 422
    assert words in answer.get_json()["error"]
    assert stored(app) == []


def test_a_body_that_is_not_a_subscription_is_refused(app, actor):
    alice = actor("alice")
    answer = alice.client.post("/settings/push", data="[1, 2]", content_type="application/json",
                               headers={"X-CSRFToken": alice.csrf()})
    assert answer.status_code == 422
    assert stored(app) == []


def test_a_person_has_at_most_twenty_devices_and_is_told_to_remove_one(app, actor):
    alice = actor("alice")
    for _ in range(MAX_DEVICES):
        assert turn_on(alice, subscription()).status_code == 201

    answer = turn_on(alice, subscription())

    assert answer.status_code == 409
    assert answer.get_json()["error"] == "You have 20 devices with notifications on. Remove one in Settings first."
    assert len(stored(app)) == MAX_DEVICES


def test_removing_a_device_in_settings_stops_its_notifications_without_javascript(app, actor):
    alice = actor("alice")
    turn_on(alice, subscription())
    turn_on(alice, subscription(), user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
                                              "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 "
                                              "Safari/604.1")

    answer = alice.post(remove_url(alice, "Chrome on Linux"))

    assert answer.status_code == 302 and answer.location.endswith("/settings")
    page = alice.get("/settings").get_data(as_text=True)
    assert "That device gets no more notifications." in page
    assert listed_devices(alice) == ["Safari on iPhone"]
    assert [row[3] for row in stored(app)] == ["Safari on iPhone"]


def test_someone_elses_device_cannot_be_removed(app, actor):
    alice, mallory = actor("alice"), actor("mallory")
    turn_on(alice, subscription())
    url = remove_url(alice, "Chrome on Linux")

    answer = mallory.post(url)

    assert answer.status_code == 404
    assert "That device is not in your list." in answer.get_data(as_text=True)
    assert listed_devices(alice) == ["Chrome on Linux"]


def test_a_browser_that_turns_notifications_off_forgets_only_its_own_subscription(app, actor):
    alice, mallory = actor("alice"), actor("mallory")
    body = subscription()
    turn_on(alice, body)
    csrf = {"X-CSRFToken": mallory.csrf()}

    assert mallory.client.post("/settings/push/unsubscribe", json={"endpoint": body["endpoint"]},
                               headers=csrf).get_json() == {"removed": False}
    assert len(stored(app)) == 1
    assert alice.client.post("/settings/push/unsubscribe", json={"endpoint": body["endpoint"]},
                             headers={"X-CSRFToken": alice.csrf()}).get_json() == {"removed": True}
    assert stored(app) == []


def test_turning_notifications_on_needs_the_pages_csrf_token(app, actor):
    alice = actor("alice")
    assert turn_on(alice, subscription(), csrf=False).status_code == 400
    turn_on(alice, subscription())
    assert alice.post(remove_url(alice, "Chrome on Linux"), csrf=False).status_code == 400
    assert len(stored(app)) == 1


def test_a_visitor_is_asked_to_sign_in(app, anonymous):
    answer = anonymous.post("/settings/push", {})
    assert answer.status_code == 302 and "/login?next=" in answer.location
    assert stored(app) == []


def test_settings_without_devices_says_so_and_offers_the_button(actor):
    alice = actor("alice")
    section = parse(alice.get("/settings").get_data(as_text=True)).find(cls="push-devices")
    assert section.find("h2").text == "Notifications on your devices"
    assert "No device gets notifications while webchat is closed." in section.text
    button = section.find("button", data_push_on=True)
    assert button.text == "Get notifications on this device when webchat is closed"
    assert "hidden" in button.attrs  # shown by static/push.js where the browser can
    assert len(section.get("data-push-key")) == 87  # the applicationServerKey: 65 bytes, base64url


def test_the_service_worker_is_served_from_the_root_for_everyone(anonymous):
    answer = anonymous.get("/sw.js")
    assert answer.status_code == 200
    assert answer.mimetype == "application/javascript"
    assert answer.headers["Service-Worker-Allowed"] == "/"
    assert answer.headers["Cache-Control"] == "no-cache"
    assert 'addEventListener("push"' in answer.get_data(as_text=True)


def test_pages_allow_a_service_worker_from_their_own_origin_only(actor):
    policy = actor("alice").get("/settings").headers["Content-Security-Policy"]
    assert "worker-src 'self'" in policy


@pytest.mark.parametrize(("user_agent", "name"), [
    (CHROME_LINUX, "Chrome on Linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"),
    ("curl/8.5.0", "A browser"),
    (None, "A browser"),
])
def test_a_device_is_named_by_its_browser_and_system(user_agent, name):
    assert device_name(user_agent) == name
