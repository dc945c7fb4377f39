"""Web Push, sent for real: the app's notifier encrypts and signs each push, a local RFC 8030 push
service (tests/support/push_service.py) checks the VAPID JWT, decrypts and records what each
device receives.

In-process tests drive the notifier by hand (notifier.run_once() in a request context); the
tests of what happens beside the send path and across a restart run the app under gunicorn,
whose notifier runs by itself. Registering devices goes through core/push.subscribe(), as the
Settings page's route does (that route is tested in tests/test_push_subscriptions.py).
"""
import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select, text, update

from webchat.core import notifier, push
from webchat.extensions import db
from webchat.models import Notification, PushSubscription, User, utcnow

from .support import services
from .support.push_service import PushService, vapid_key_pair
from .support.wsclient import People, message_ids

# ----- in the test process --------------------------------------------------------------------------


@pytest.fixture
def push_service():
    with PushService() as service:
        yield service


@pytest.fixture
def pushing(app):
    """The app, allowed to push to the local service over plain http; every message notifies at
    once (the folding test sets its own window)."""
    app.config.update(PUSH_HTTP_HOSTS=["127.0.0.1"], NOTIFY_FOLD_SECONDS=0)
    return app


def device_of(app, service: PushService, username: str, name: str = "Firefox on Linux"):
    """A new browser of this person's, subscribed with the server's key, registered with the app."""
    with app.app_context():
        device = service.new_device(application_server_key=push.public_key())
        user = db.session.scalar(select(User).where(User.username == username))
        push.subscribe(user, device.endpoint, device.p256dh, device.auth, name)
    return device


def notify(app) -> None:
    """One round of the notifier, as its background loop runs it."""
    with app.test_request_context():
        notifier.run_once()


def push_rows(app) -> list[tuple[str, str, int]]:
    """(username, state, attempts) of every push notification, oldest first."""
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            select(User.username, Notification.state, Notification.attempts).join(User, User.id == Notification.user_id)
            .where(Notification.kind == "push").order_by(Notification.id))]


def make_due_now(app) -> None:
    """As if the backoff or folding window had passed."""
    with app.app_context():
        db.session.execute(update(Notification).where(Notification.state == "due")
                           .values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def devices_of(app, username: str) -> list[str]:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        return [d.endpoint for d in push.devices(user)]


def test_a_mention_reaches_every_device_of_the_offline_person_with_chat_author_preview_and_link(
        pushing, push_service, trio):
    chat_id, alice, bob, _carol = trio
    laptop, phone = device_of(pushing, push_service, "bob"), device_of(pushing, push_service, "bob", "Phone")
    message_id = message_ids(alice.send(chat_id, "hi @bob, the plan is ready", htmx=True).get_data(as_text=True))[0]

    notify(pushing)

    for device in (laptop, phone):
        [payload] = push_service.wait_for(device)
        assert payload["title"] == "Alice in Team"
        assert payload["body"] == "hi @bob, the plan is ready"
        assert (payload["chat"], payload["thread"], payload["message"]) == (chat_id, None, message_id)
        assert payload["tag"] == f"webchat-{chat_id}"
        page = bob.get(payload["url"], follow_redirects=True).get_data(as_text=True)
        assert f'id="m-{message_id}"' in page  # the link opens the chat at the message
    [received] = [r for r in push_service.received if r.device == laptop.id]
    assert received.headers["urgency"] == "high"  # a mention
    assert int(received.headers["ttl"]) >= 3600
    assert received.claims["sub"].startswith("mailto:")
    assert push_service.problems == []
    assert push_rows(pushing) == [("bob", "sent", 1)]  # carol has no device: no push planned
    with pushing.app_context():
        assert all(d.last_used_at is not None for d in db.session.scalars(select(PushSubscription)))


def test_a_direct_message_is_pushed_under_the_authors_name(pushing, push_service, actor):
    alice, _bob = actor("alice"), actor("bob")
    phone = device_of(pushing, push_service, "bob")
    response = alice.post("/dm", {"username": "bob"})
    chat_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    alice.send(chat_id, "are you free at 3?")

    notify(pushing)

    [payload] = push_service.wait_for(phone)
    assert (payload["title"], payload["body"]) == ("Alice", "are you free at 3?")
    assert push_service.received[0].headers["urgency"] == "high"


def test_nobody_is_pushed_their_own_messages(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    own = device_of(pushing, push_service, "alice")
    carols = device_of(pushing, push_service, "carol")
    alice.send(chat_id, "a note for the team")

    notify(pushing)

    [payload] = push_service.wait_for(carols)
    assert payload["body"] == "a note for the team"
    assert push_service.received[0].headers["urgency"] == "normal"  # all messages of the chat, no mention
    assert push_service.tries(own) == []


def test_a_410_removes_that_device_and_later_messages_do_not_try_it(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    old, current = device_of(pushing, push_service, "bob", "Old laptop"), device_of(pushing, push_service, "bob")
    only = device_of(pushing, push_service, "carol")
    push_service.gone(old)
    push_service.gone(only)
    alice.send(chat_id, "first")

    notify(pushing)

    assert [p["body"] for p in push_service.wait_for(current)] == ["first"]
    assert devices_of(pushing, "bob") == [current.endpoint]
    assert devices_of(pushing, "carol") == []
    assert push_rows(pushing) == [("bob", "sent", 1), ("carol", "dropped", 1)]  # carol: no device left

    alice.send(chat_id, "second")
    notify(pushing)

    assert [p["body"] for p in push_service.wait_for(current, 2)] == ["first", "second"]
    assert push_service.tries(old) == [410]
    assert push_service.tries(only) == [410]


def test_a_500_is_retried_after_the_backoff_and_the_push_arrives_once(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    phone = device_of(pushing, push_service, "bob")
    push_service.answer(phone, 500, times=1)
    alice.send(chat_id, "are we on?")

    notify(pushing)
    assert push_service.tries(phone) == [500]
    assert push_rows(pushing)[0] == ("bob", "due", 1)

    notify(pushing)  # not yet: the backoff has not passed
    assert push_service.tries(phone) == [500]

    make_due_now(pushing)
    notify(pushing)
    assert [p["body"] for p in push_service.wait_for(phone)] == ["are we on?"]
    assert push_service.tries(phone) == [500, 201]
    assert push_rows(pushing)[0] == ("bob", "sent", 2)


def test_a_push_that_reached_one_device_is_not_sent_again_because_another_was_busy(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    laptop, phone = device_of(pushing, push_service, "bob"), device_of(pushing, push_service, "bob", "Phone")
    push_service.answer(phone, 503, times=1)
    alice.send(chat_id, "one")

    notify(pushing)
    make_due_now(pushing)
    notify(pushing)

    assert [p["body"] for p in push_service.wait_for(laptop)] == ["one"]
    assert push_service.tries(phone) == [503]  # this one misses it: its next notification shows instead
    assert push_rows(pushing) == [("bob", "sent", 1)]


def test_an_unreachable_push_service_is_retried_later(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    phone = device_of(pushing, push_service, "bob")
    push_service.stop()
    alice.send(chat_id, "anyone?")

    notify(pushing)
    assert push_rows(pushing)[0] == ("bob", "due", 1)

    push_service.start()
    make_due_now(pushing)
    notify(pushing)
    assert [p["body"] for p in push_service.wait_for(phone)] == ["anyone?"]


def test_a_device_subscribed_under_another_key_is_refused_and_not_retried(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    with pushing.app_context():  # a subscription made before the server's key was replaced
        stale = push_service.new_device(application_server_key=vapid_key_pair()[1])
        push.subscribe(db.session.scalar(select(User).where(User.username == "bob")), stale.endpoint, stale.p256dh,
                       stale.auth)
    alice.send(chat_id, "hello")

    notify(pushing)
    make_due_now(pushing)
    notify(pushing)

    assert push_service.tries(stale) == [403]
    assert push_rows(pushing)[0] == ("bob", "failed", 1)
    assert devices_of(pushing, "bob") == [stale.endpoint]  # kept: listed in Settings, to remove there


def test_one_vapid_signature_serves_every_push_to_one_push_service(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    bobs, carols = device_of(pushing, push_service, "bob"), device_of(pushing, push_service, "carol")
    alice.send(chat_id, "one")
    notify(pushing)
    alice.send(chat_id, "two")
    notify(pushing)

    push_service.wait_for(bobs, 2)
    push_service.wait_for(carols, 2)
    assert len({r.headers["authorization"] for r in push_service.received}) == 1
    claims = push_service.received[0].claims
    assert claims["aud"] == push_service.origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_messages_within_the_folding_window_become_one_push_that_counts_them(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    pushing.config["NOTIFY_FOLD_SECONDS"] = 30
    phone = device_of(pushing, push_service, "bob")
    alice.send(chat_id, "one")
    notify(pushing)
    alice.send(chat_id, "two")
    alice.send(chat_id, "three")
    notify(pushing)

    assert [p["body"] for p in push_service.payloads(phone)] == ["one"]  # the others wait for the window

    make_due_now(pushing)
    notify(pushing)
    first, folded = push_service.wait_for(phone, 2)
    assert (folded["title"], folded["body"]) == ("Team", "2 new messages")
    assert folded["tag"] == first["tag"]  # the newer notification replaces the first on the device
    assert folded["message"] > first["message"]


def test_a_message_deleted_before_its_push_is_sent_is_not_pushed(pushing, push_service, trio):
    chat_id, alice, _bob, _carol = trio
    phone = device_of(pushing, push_service, "bob")
    message_id = message_ids(alice.send(chat_id, "oops", htmx=True).get_data(as_text=True))[0]
    with pushing.test_request_context():
        notifier.take_queued()  # the push is planned, not sent yet
    assert alice.post(f"/chats/{chat_id}/messages/{message_id}/delete").status_code in (302, 303)

    notify(pushing)

    assert push_service.tries(phone) == []
    assert push_rows(pushing)[0][:2] == ("bob", "dropped")


# ----- under gunicorn: beside the send path, and across a restart ----------------------------------

VAPID_PRIVATE, VAPID_PUBLIC = vapid_key_pair()


@pytest.fixture(scope="module")
def live_push(tmp_path_factory):
    """A server of this module's own (its notifier runs by itself) and the push service it sends to."""
    env = {"WEBCHAT_PUSH_HTTP_HOSTS": "127.0.0.1", "WEBCHAT_VAPID_PRIVATE_KEY": VAPID_PRIVATE,
           # A held push must not time out while the test looks at the rest (it would be sent twice).
           "WEBCHAT_PUSH_TIMEOUT_SECONDS": "60"}
    with PushService() as service, services.module_server("push", tmp_path_factory.mktemp("push"), env) as live:
        yield live, service


@pytest.fixture
def live_people(live_push):
    made = People(live_push[0].url)
    yield made
    made.close()


def live_device(live, service: PushService, username: str):
    """Register a device for a person of the live server, through the core, on its database."""
    from webchat import create_app
    device = service.new_device(application_server_key=VAPID_PUBLIC)
    app = create_app({"SQLALCHEMY_DATABASE_URI": live.env["DATABASE_URL"], "SECRET_KEY": "test", "REDIS_URL": None,
                      "PUSH_HTTP_HOSTS": ["127.0.0.1"]})
    with app.app_context():
        try:
            user = db.session.scalar(select(User).where(User.username == username))
            push.subscribe(user, device.endpoint, device.p256dh, device.auth, "Test browser")
        finally:
            db.session.remove()
            db.engine.dispose()
    return device


def live_push_row(live, username: str) -> tuple[str, int] | None:
    """(state, attempts) of the person's newest push notification on the live server."""
    engine = create_engine(live.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT n.state, n.attempts FROM notifications n JOIN users u ON u.id = n.user_id "
                                    "WHERE u.username = :name AND n.kind = 'push' ORDER BY n.id DESC LIMIT 1"),
                               {"name": username}).first()
            return tuple(row) if row else None
    finally:
        engine.dispose()


def wait_for_row(live, username: str, predicate, timeout: float = 30) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = live_push_row(live, username)
        if row is not None and predicate(row):
            return row
        time.sleep(0.1)
    raise AssertionError(f"{username}'s push notification is {live_push_row(live, username)}")


def test_a_slow_push_service_holds_up_neither_the_senders_answer_nor_live_delivery(live_push, live_people):
    live, service = live_push
    alice, bob, carol = live_people.new("alice"), live_people.new("bob"), live_people.new("carol")
    chat_id = alice.create_chat("Slow", [bob, carol])
    phone = live_device(live, service, bob.username)
    carols_tab = carol.open_tab()
    carols_tab.view(chat_id)
    service.hold()
    try:
        message_id = alice.send(chat_id, f"@{bob.username} lunch?")  # the HTTP answer: stored
        carols_tab.wait_for_message(message_id, timeout=10)  # delivered live to a member online
        service.wait_until(lambda s: s.holding >= 1)  # meanwhile bob's push is in flight, held
        assert service.payloads(phone) == []
    finally:
        service.release()
    [payload] = service.wait_for(phone)
    assert payload["message"] == message_id
    assert wait_for_row(live, bob.username, lambda row: row[0] == "sent") == ("sent", 1)


def test_a_push_due_when_the_server_stops_is_sent_once_after_it_starts_again(live_push, live_people):
    live, service = live_push
    alice, bob = live_people.new("alice"), live_people.new("bob")
    chat_id = alice.create_chat("Restart", [bob])
    phone = live_device(live, service, bob.username)
    service.stop()  # the push service is down: the push is due again after a backoff
    try:
        message_id = alice.send(chat_id, "before the restart")
        wait_for_row(live, bob.username, lambda row: row[0] == "due" and row[1] >= 1)
        live.stop()
    finally:
        service.start()
    assert live_push_row(live, bob.username)[0] == "due"  # kept in the database while no server runs
    live.start()

    [payload] = service.wait_for(phone)
    assert payload["message"] == message_id
    wait_for_row(live, bob.username, lambda row: row[0] == "sent")
    assert [p["message"] for p in service.payloads(phone)] == [message_id]
