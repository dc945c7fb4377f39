"""Web Push across workers: two gunicorn workers on PostgreSQL and Redis, each running a notifier,
send each push once (they claim notifications with FOR UPDATE SKIP LOCKED and a lease).

PostgreSQL only: SQLite has no row locks to skip, and a SQLite deployment is one process (its
notifier claims alone), so there is nothing to race there. PostgreSQL or Redis unreachable: skipped
on a developer's machine, a failure in CI (as tests/test_scaleout.py).

The database's id sequences start at a random offset: Redis keeps who is online by user id, and
the machine's Redis is shared with other runs, whose users must not look like ours.
"""
import collections
import os
import time

import pytest
from sqlalchemy import create_engine, select, text

from webchat import create_app
from webchat.core import push
from webchat.extensions import db
from webchat.models import User

from .support import services
from .support.push_service import PushService, vapid_key_pair
from .support.wsclient import Person

POSTGRES_URL = os.environ.get("WEBCHAT_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("WEBCHAT_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
VAPID_PRIVATE, VAPID_PUBLIC = vapid_key_pair()


@pytest.fixture(scope="module")
def database():
    if not POSTGRES_URL:
        pytest.skip("two workers racing for pushes need PostgreSQL (row locks); on SQLite one process sends")
    problem = services.redis_reachable(REDIS_URL)
    if problem:
        services.unavailable(f"Redis at {REDIS_URL} is not reachable: {problem}")
    with services.migrated_postgres_database(POSTGRES_URL, "push_workers") as url:
        yield url


@pytest.fixture(scope="module")
def cluster(database, tmp_path_factory):
    """gunicorn -k gevent -w 2 on PostgreSQL and Redis, and the push service it sends to."""
    env = {"REDIS_URL": REDIS_URL, "WEBCHAT_PUSH_HTTP_HOSTS": "127.0.0.1", "WEBCHAT_VAPID_PRIVATE_KEY": VAPID_PRIVATE}
    with PushService() as service, services.LiveServer(database, tmp_path_factory.mktemp("push_workers"), workers=2,
                                                       extra_env=env) as server:
        yield server, service


def subscribe_all(database: str, service: PushService, usernames: list[str]) -> dict[str, object]:
    """One device each, registered through the core on the cluster's database."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": "test", "REDIS_URL": None,
                      "PUSH_HTTP_HOSTS": ["127.0.0.1"]})
    devices = {}
    with app.app_context():
        try:
            for username in usernames:
                device = service.new_device(application_server_key=VAPID_PUBLIC)
                push.subscribe(db.session.scalar(select(User).where(User.username == username)), device.endpoint,
                               device.p256dh, device.auth, "Test browser")
                devices[username] = device
        finally:
            db.session.remove()
            db.engine.dispose()
    return devices


def push_rows(database: str, usernames: list[str]) -> list[tuple[str, str, int, int]]:
    """(username, state, message id, count) of the push notifications of these people."""
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT u.username, n.state, n.message_id, n.count FROM notifications n JOIN users u "
                "ON u.id = n.user_id WHERE n.kind = 'push' AND u.username = ANY(:names) ORDER BY n.id"),
                {"names": usernames})]
    finally:
        engine.dispose()


def test_two_workers_send_each_push_to_each_offline_device_exactly_once(cluster, database):
    server, service = cluster
    sender = Person.register(server.url, "sender")
    offline = [Person.register(server.url, "away") for _ in range(6)]
    names = [p.username for p in offline]
    chat_id = sender.create_chat("Everyone", offline)
    devices = subscribe_all(database, service, names)

    sent = sender.send_many(chat_id, [f"update {i}" for i in range(12)], threads=4)  # over several connections

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # every notification settled: nothing due or being sent
        rows = push_rows(database, names)
        if rows and all(state == "sent" for _, state, _, _ in rows) and \
                sum(count for *_, count in rows) == len(sent) * len(names):
            break
        time.sleep(0.2)
    rows = push_rows(database, names)
    assert sum(count for *_, count in rows) == len(sent) * len(names)  # every message, folded or not
    assert {state for _, state, _, _ in rows} == {"sent"}
    for username, device in devices.items():
        received = collections.Counter(p["message"] for p in service.wait_for(device, 1))
        expected = collections.Counter(message for name, _, message, _ in rows if name == username)
        assert received == expected, username  # each push arrived once, none twice, none lost
    assert service.problems == []
    for person in (sender, *offline):
        person.close_tabs()
