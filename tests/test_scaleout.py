"""Scale-out for real: gunicorn with several workers, two hosts, PostgreSQL and Redis, and their failures.

Every test here runs the app under gunicorn -k gevent on PostgreSQL with REDIS_URL set; when
either service is unreachable the tests skip on a developer's machine and fail in CI.

The module gets a fresh PostgreSQL database whose id sequences start at a random offset: pub/sub
channels are named by chat id and ignore Redis database numbers, so this keeps the chats of a
run apart from those of any other run sharing the machine's Redis.

Servers: `cluster` (4 workers) serves most tests; `host_b` is a second host on the same
database and Redis; the Redis-restart and database-outage tests start servers of their own, on
a private redis-server and behind a TCP proxy to PostgreSQL.
"""
import collections
import http.client
import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .support import faults, services
from .support.wsclient import (
    Closed,
    Person,
    Tab,
    confirms,
    is_chat_list,
    message_ids,
    new_client_id,
    server_worker_pids,
)

POSTGRES_URL = os.environ.get("WEBCHAT_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = os.environ.get("WEBCHAT_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
RESYNC = "<template data-resync></template>"


# ----- services and servers -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_url():
    problem = services.redis_reachable(REDIS_URL)
    if problem:
        services.unavailable(f"Redis at {REDIS_URL} is not reachable: {problem}")
    return REDIS_URL


@pytest.fixture(scope="module")
def database(redis_url):
    """A fresh PostgreSQL database with the schema, its ids starting at a random offset."""
    with services.migrated_postgres_database(POSTGRES_URL, "scaleout") as url:
        yield url


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("scaleout")


@pytest.fixture(scope="module")
def cluster(database, redis_url, scratch):
    """gunicorn -k gevent -w 4 on PostgreSQL and Redis."""
    with services.LiveServer(database, scratch, workers=4, extra_env={"REDIS_URL": redis_url}) as server:
        yield server


@pytest.fixture(scope="module")
def host_b(database, redis_url, scratch):
    """A second host: another gunicorn on another port, on the same database and Redis."""
    with services.LiveServer(database, scratch, workers=1, extra_env={"REDIS_URL": redis_url}) as server:
        yield server


class People:
    """Registers people on a server and closes their sockets and connections afterwards."""

    def __init__(self) -> None:
        self.made: list[Person] = []

    def new(self, server, prefix: str = "user") -> Person:
        person = Person.register(server.url, prefix)
        self.made.append(person)
        return person

    def on(self, server, person: Person) -> Person:
        """The same user signed in on another host (the hosts share the database and SECRET_KEY)."""
        twin = Person(server.url, person.username, person.password).login()
        self.made.append(twin)
        return twin

    def close(self) -> None:
        for person in self.made:
            person.close_tabs()


@pytest.fixture
def people():
    made = People()
    yield made
    made.close()


# ----- helpers --------------------------------------------------------------------------------------

def stored_ids(database: str, chat: int) -> list[int]:
    """The chat's message ids as PostgreSQL has them, in id order (not through the app)."""
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT id FROM messages WHERE chat_id = :c ORDER BY id"), {"c": chat}))
    finally:
        engine.dispose()


def stored_bodies(database: str, chat: int) -> list[str]:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT body FROM messages WHERE chat_id = :c AND kind = 'user' "
                                          "ORDER BY id"), {"c": chat}))
    finally:
        engine.dispose()


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def post_as_htmx(person: Person, path: str, form: dict) -> tuple[int, dict, str]:
    """POST as the page's htmx does (HX-Request, the composer as trigger): status, headers, body."""
    conn = http.client.HTTPConnection(person.host, person.port, timeout=10)
    try:
        conn.request("POST", path, body=urlencode({**form, "csrf_token": person.csrf()}), headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in person.cookies.items()),
            "Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true", "HX-Trigger": "composer"})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read().decode()
    finally:
        conn.close()


def wait_ready(server, status: int, timeout: float = 5) -> dict:
    """Poll /readyz until it answers `status`; its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        got, body = get_json(server.url + "/readyz")
        if got == status:
            return body
        assert time.monotonic() < deadline, f"/readyz still {got} {body} after {timeout} s"
        time.sleep(0.1)


def read_until(tab: Tab, done, timeout: float) -> bool:
    """Read frames until done(tab.frames) holds; False on timeout or when the socket closed."""
    deadline = time.monotonic() + timeout
    while not done(tab.frames):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            tab.recv(min(remaining, 0.5))
        except Closed:
            return done(tab.frames)
    return True


def workers_of(server, tabs: list[Tab]) -> list[int]:
    """Which gunicorn worker serves each tab: the process holding the server end of its TCP connection."""
    inodes = {}  # client port -> inode of the server's socket
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = list(f)[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(local.rsplit(":", 1)[1], 16) == server.port and inode:
                inodes[int(remote.rsplit(":", 1)[1], 16)] = inode
    owner = {}
    for pid in server_worker_pids(server.process.pid):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    owner[int(link[8:-1])] = pid
        except OSError:
            continue
    return [owner.get(inodes.get(tab.ws.sock.getsockname()[1], -1), 0) for tab in tabs]


def own_confirmations(frames: list[str], client_ids) -> list[str]:
    return [f for f in frames if any(confirms(f, c) for c in client_ids)]


def live_ids(frames: list[str], chat: int, client_ids=(), above: int = 0) -> list[int]:
    """Message ids in arrival order, leaving out the sender's own confirmations (they repeat the message)."""
    return [i for f in frames if not any(confirms(f, c) for c in client_ids)
            for i in message_ids(f, chat) if i > above]


def out_of_order(ids: list[int]) -> int:
    return sum(1 for a, b in zip(ids, ids[1:], strict=False) if b < a)


# ----- probes -----------------------------------------------------------------------------------------

def test_healthz_answers_ok_and_readyz_reports_database_and_redis_ok(cluster):
    assert get_json(cluster.url + "/healthz") == (200, {"status": "ok"})
    status, body = get_json(cluster.url + "/readyz")
    assert status == 200, body
    assert body == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


# ----- order under concurrency -------------------------------------------------------------------------

WRITERS = 12
PER_WRITER = 34  # 408 messages


def test_a_reader_asking_after_its_newest_id_while_twelve_writers_send_gets_every_stored_id_once_in_order(
        cluster, database, people):
    writers = [people.new(cluster, "writer") for _ in range(WRITERS)]
    reader = people.new(cluster, "reader")
    chat = writers[0].create_chat("Order", [*writers[1:], reader])
    go = threading.Barrier(WRITERS + 1)
    sent: list[int] = []
    failures: list[BaseException] = []

    def write(person: Person) -> None:
        try:
            go.wait(10)
            for i in range(PER_WRITER):
                sent.append(person.send(chat, f"{person.username} says {i}"))
        except BaseException as e:  # noqa: BLE001 - reported in the test's thread
            failures.append(e)

    threads = [threading.Thread(target=write, args=(person,), daemon=True) for person in writers]
    for thread in threads:
        thread.start()

    collected: list[int] = []
    polls = with_news = 0

    def poll() -> list[int]:
        nonlocal polls, with_news
        cursor = collected[-1] if collected else 0
        response = reader.get(f"/chats/{chat}/messages?after={cursor}")
        assert response.status == 200, response
        page = message_ids(response.text, chat)
        assert all(a < b for a, b in zip([cursor, *page], page, strict=False)), \
            f"after {cursor} the server answered {page}: not increasing, or not after the cursor"
        collected.extend(page)
        polls += 1
        with_news += bool(page)
        return page

    started = time.monotonic()
    go.wait(10)
    deadline = started + 60
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        poll()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    writing = time.monotonic() - started
    assert not failures, failures
    assert not any(t.is_alive() for t in threads), "writers still running after 60 s"
    for _ in range(10):  # the rest, 200 at a time
        if not poll():
            break

    stored = stored_ids(database, chat)
    assert len(sent) == WRITERS * PER_WRITER
    assert set(sent) <= set(stored)
    assert len(stored_bodies(database, chat)) == len(sent), "a message stored twice, or one too few"
    missed = sorted(set(stored) - set(collected))
    assert not missed, f"the reader's cursor skipped past {len(missed)} ids that committed late: {missed[:10]}"
    assert collected == stored
    print(f"\n{len(sent)} messages from {WRITERS} writers in {writing:.1f} s "
          f"({len(sent) / writing:.0f}/s); the reader polled {polls} times, {with_news} with news")


# ----- several workers ---------------------------------------------------------------------------------

MEMBERS = 12
EACH = 4


def test_with_four_workers_every_socket_gets_every_message_sent_over_http_and_over_sockets_once(
        cluster, database, people):
    members = [people.new(cluster, "member") for _ in range(MEMBERS)]
    chat = members[0].create_chat("Spread", members[1:])
    tabs = [person.open_tab() for person in members]
    # The kernel picks the worker of each connection; a few more tabs if it picked one for all.
    while len(set(workers_of(cluster, tabs))) < 2 and len(tabs) < 3 * MEMBERS:
        tabs.append(members[len(tabs) % MEMBERS].open_tab())
    spread = collections.Counter(workers_of(cluster, tabs))
    assert 0 not in spread, "a socket whose worker could not be found"
    assert len(spread) >= 2, f"all {len(tabs)} sockets on one worker"
    baseline = stored_ids(database, chat)[-1]

    http_senders, socket_senders = members[:MEMBERS // 2], range(MEMBERS // 2, MEMBERS)
    client_ids: dict[int, list[str]] = collections.defaultdict(list)

    def send_over_http(person: Person) -> list[int]:
        return [person.send(chat, f"http {person.username} {i}") for i in range(EACH)]

    with ThreadPoolExecutor(len(http_senders)) as pool:
        futures = [pool.submit(send_over_http, person) for person in http_senders]
        for i in range(EACH):
            for index in socket_senders:
                client_ids[index].append(tabs[index].send(chat, f"socket {members[index].username} {i}"))
        http_ids = [i for future in futures for i in future.result(30)]

    expected_count = MEMBERS * EACH
    deadline = time.monotonic() + 10
    for index, tab in enumerate(tabs):
        mine = client_ids.get(index, [])

        def complete(frames, mine=mine):
            return (len(own_confirmations(frames, mine)) >= len(mine)
                    and len(set(live_ids(frames, chat, mine, baseline))) >= expected_count)

        assert read_until(tab, complete, max(0.5, deadline - time.monotonic())), \
            f"socket {index} got {len(set(live_ids(tab.frames, chat, mine, baseline)))} of {expected_count} messages"

    stored = [i for i in stored_ids(database, chat) if i > baseline]
    assert len(stored) == expected_count, "each send is stored once"
    assert set(http_ids) <= set(stored)
    reordered = 0
    for index, tab in enumerate(tabs):
        tab.collect(0.2)  # anything arriving late would be a duplicate
        mine = client_ids.get(index, [])
        arrived = live_ids(tab.frames, chat, mine, baseline)
        duplicates = {i: n for i, n in collections.Counter(arrived).items() if n > 1}
        assert not duplicates, f"socket {index} got messages more than once: {duplicates}"
        assert sorted(arrived) == stored, f"socket {index}: missing {sorted(set(stored) - set(arrived))}"
        confirmed = [i for f in own_confirmations(tab.frames, mine) for i in message_ids(f, chat)]
        assert len(confirmed) == len(mine) and set(confirmed) <= set(stored)
        reordered += out_of_order(arrived)
    print(f"\nsockets per worker: {sorted(spread.values(), reverse=True)}; {expected_count} messages to "
          f"{len(tabs)} sockets; {reordered} deliveries arrived after a higher id")


# ----- two hosts -----------------------------------------------------------------------------------------

PRESENCE = 'data-presence-signal data-user="{user}"[^>]*data-online="1"'


def test_two_hosts_on_one_database_and_redis_share_messages_typing_presence_and_read_state(
        cluster, host_b, people):
    alice = people.new(cluster, "alice")
    bob = people.new(host_b, "bob")
    chat = alice.create_chat("Across", [bob])
    alice_tab = alice.open_tab()

    # Presence: bob's first socket, on host B, tells alice's, on host A.
    bob_tab = bob.open_tab()
    online = re.compile(PRESENCE.format(user=bob.username))
    alice_tab.wait_for(lambda f: bool(online.search(f)), timeout=2)

    # Messages both ways, live.
    started = time.monotonic()
    client_id = alice_tab.send(chat, "hello from host A")
    alice_sent = [client_id]
    (from_a,) = message_ids(bob_tab.wait_for(lambda f: "hello from host A" in f, timeout=1), chat)
    assert time.monotonic() - started < 1
    assert message_ids(alice_tab.wait_for(lambda f: confirms(f, client_id)), chat) == [from_a]

    # Typing on B shows on A.
    bob_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    typing = alice_tab.wait_for(lambda f: f'id="typing-{chat}"' in f and f'data-user="{bob.username}"' in f,
                                timeout=2)
    assert bob.username.title() in typing

    # Read state on B reaches A as receipts.
    bob_tab.send_json({"type": "read", "chat": chat, "upto": from_a})
    read = re.compile(f'<span data-user="{bob.username}" data-read="{from_a}"')
    alice_tab.wait_for(lambda f: f'id="receipts-{chat}"' in f and bool(read.search(f)), timeout=3)

    started = time.monotonic()
    client_id = bob_tab.send(chat, "hello back from host B")
    bob_sent = [client_id]
    (from_b,) = message_ids(alice_tab.wait_for(lambda f: "hello back from host B" in f, timeout=1), chat)
    assert time.monotonic() - started < 1
    assert message_ids(bob_tab.wait_for(lambda f: confirms(f, client_id)), chat) == [from_b]
    # Sending ended bob's typing, on A too.
    alice_tab.wait_for(lambda f: f'id="typing-{chat}"' in f and "data-user=" not in f, timeout=2)

    over_http = bob.send(chat, "and over http on host B")
    alice_tab.wait_for_message(over_http, timeout=1)
    bob_tab.wait_for_message(over_http, timeout=1)
    for tab, mine in ((alice_tab, alice_sent), (bob_tab, bob_sent)):
        tab.collect(0.2)
        assert live_ids(tab.frames, chat, mine) == [from_a, from_b, over_http], "each message once, in order"


# ----- a worker dies ---------------------------------------------------------------------------------------

def test_when_a_worker_is_killed_its_sockets_reconnect_catch_up_and_no_message_is_lost(cluster, database, people):
    sender = people.new(cluster, "sender")
    readers = [people.new(cluster, "reader") for _ in range(10)]
    chat = sender.create_chat("Survivors", readers)
    tabs = {}
    for person in readers:
        tab = tabs[person.username] = person.open_tab()
        tab.view(chat, after=0)
    for tab in tabs.values():
        tab.collect_until(is_chat_list, timeout=5)
    first = sender.send(chat, "before the kill")
    for tab in tabs.values():
        tab.wait_for_message(first, timeout=2)

    owners = dict(zip(tabs, workers_of(cluster, list(tabs.values())), strict=True))
    victim, on_victim = collections.Counter(owners.values()).most_common(1)[0]
    assert victim, "the sockets' worker could not be found"
    dropped = [name for name, pid in owners.items() if pid == victim]
    os.kill(victim, signal.SIGKILL)

    # Messages keep coming over HTTP while the dropped pages notice and reconnect.
    during: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    twin = sender.clone()

    def keep_sending() -> None:
        try:
            for i in range(500):
                if stop.is_set():
                    return
                during.append(twin.send(chat, f"while reconnecting {i}"))
                time.sleep(0.02)
        except BaseException as e:  # noqa: BLE001 - reported in the test's thread
            failures.append(e)

    thread = threading.Thread(target=keep_sending, daemon=True)
    thread.start()
    replacements: dict[str, Tab] = {}
    replays: dict[str, list[str]] = {}  # each replacement's frames from its view to the end of the replay
    try:
        for name in dropped:
            old = tabs[name]
            assert old.wait_closed(timeout=3) == 1006  # no close frame from a killed process
            person = next(p for p in readers if p.username == name)
            new = replacements[name] = person.open_tab()  # the kernel hands it to a live worker
            start = len(new.frames)
            new.view(chat, after=max(message_ids(old.frames, chat)))
            replays[name] = new.collect_until(is_chat_list, timeout=5)
            assert new.frames[start:] == replays[name]
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(10)
        twin.close_tabs()
    assert not failures, failures
    assert during, "nothing was sent while the pages reconnected"
    last = sender.send(chat, "after the reconnect")

    stored = stored_ids(database, chat)
    assert stored[-1] == last and set(during) <= set(stored)
    for name, tab in tabs.items():
        mine = [tab] + ([replacements[name]] if name in replacements else [])
        for t in mine[-1:]:
            read_until(t, lambda frames: last in message_ids(frames, chat), timeout=5)
        wire = [i for t in mine for i in message_ids(t.frames, chat)]
        missing = sorted(set(stored) - set(wire))
        assert not missing, f"{name} never got {missing[:10]} ({len(missing)} in all)"
        assert set(wire) <= set(stored)
        if name not in replacements:
            assert not tab.closed, f"{name}'s socket on a live worker was dropped"
            assert wire == stored, f"{name}: a survivor got messages out of order or twice"
            continue
        # Duplicates only where the replay after reconnecting overlapped live delivery.
        replayed = set(message_ids(replays[name], chat))
        for message_id, count in collections.Counter(wire).items():
            if count > 1:
                assert count == 2 and message_id in replayed, f"{name}: {message_id} arrived {count} times"

    deadline = time.monotonic() + 10
    workers = server_worker_pids(cluster.process.pid)
    while (victim in workers or len(workers) != 4) and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = server_worker_pids(cluster.process.pid)
    assert victim not in workers and len(workers) == 4, "gunicorn did not replace the killed worker"
    print(f"\nkilled a worker serving {on_victim} of {len(tabs)} sockets; {len(during)} messages sent meanwhile")


# ----- Redis restarts ----------------------------------------------------------------------------------------

def test_after_redis_restarts_every_host_asks_its_sockets_to_resync_they_catch_up_and_live_delivery_resumes(
        database, scratch, people):
    with services.PrivateRedis(scratch) as private_redis, \
            services.LiveServer(database, scratch, extra_env={"REDIS_URL": private_redis.url}) as a, \
            services.LiveServer(database, scratch, extra_env={"REDIS_URL": private_redis.url}) as b:
        alice = people.new(a, "alice")
        carol = people.new(a, "carol")
        bob = people.new(b, "bob")
        chat = alice.create_chat("Bell", [bob, carol])
        carol_tab = carol.open_tab()
        bob_tabs = [bob.open_tab(), bob.open_tab()]
        for tab in (carol_tab, *bob_tabs):
            tab.view(chat, after=0)
            tab.collect_until(is_chat_list)
        warm = alice.send(chat, "before the outage")
        for tab in (carol_tab, *bob_tabs):
            tab.wait_for_message(warm, timeout=1)

        private_redis.kill()
        body = wait_ready(a, 503)
        assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("unreachable"), body
        missed = [alice.send(chat, f"during the outage {i}") for i in range(3)]  # stored; B hears no bell
        for message_id in missed:
            carol_tab.wait_for_message(message_id, timeout=1)  # same host: delivered without Redis
        # A socket send during the outage is stored, shown on this host and confirmed to its sender.
        client_id = carol_tab.send(chat, "over the socket during the outage")
        (by_socket,) = message_ids(carol_tab.wait_for(lambda f: confirms(f, client_id), timeout=2), chat)
        missed.append(by_socket)
        # Signing in, loading a chat and opening its socket still work: presence and typing
        # are simply unknown for the moment.
        people.on(a, bob)
        assert alice.get(f"/chats/{chat}").status == 200
        alice_tab = alice.open_tab()
        alice_tab.view(chat, after=warm)
        assert message_ids(alice_tab.collect_until(is_chat_list), chat) == missed
        for tab in bob_tabs:
            assert not set(missed) & set(message_ids(tab.collect(0.3), chat)), "the bell rang without Redis?"

        private_redis.start()
        started = time.monotonic()
        for tab in (*bob_tabs, carol_tab):
            tab.wait_for(lambda f: RESYNC in f, timeout=15)
        resynced = time.monotonic() - started
        for tab in bob_tabs:  # as the page does on resync: catch up from its newest message
            start = len(tab.frames)
            tab.view(chat, after=max(message_ids(tab.frames, chat)))
            tab.collect_until(is_chat_list, timeout=5)
            assert message_ids(tab.frames[start:], chat) == missed
        wait_ready(a, 200, timeout=5)

        after = alice.send(chat, "after the outage, from host A")
        for tab in bob_tabs:
            tab.wait_for_message(after, timeout=2)
        client_id = bob_tabs[0].send(chat, "after the outage, from host B")
        (reply,) = message_ids(bob_tabs[0].wait_for(lambda f: confirms(f, client_id)), chat)
        carol_tab.wait_for_message(reply, timeout=2)
        bob_tabs[1].wait_for_message(reply, timeout=2)
        print(f"\nsockets told to resync {resynced:.1f} s after Redis came back")


# ----- PostgreSQL away ---------------------------------------------------------------------------------------

def test_while_postgresql_is_unreachable_sends_are_refused_with_not_sent_and_the_retry_stores_once(
        database, redis_url, scratch, people):
    url = make_url(database)
    with faults.TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with services.LiveServer(proxied, scratch, extra_env={"REDIS_URL": redis_url}) as server:
            alice, bob = people.new(server, "alice"), people.new(server, "bob")
            chat = alice.create_chat("Outage", [bob])
            tab = alice.open_tab()
            tab.view(chat, after=0)
            tab.collect_until(is_chat_list)
            bob_tab = bob.open_tab()
            before = stored_ids(database, chat)
            bodies_before = stored_bodies(database, chat)

            proxy.cut()
            http_id, socket_id = new_client_id(), new_client_id()
            response = alice.post(f"/chats/{chat}/messages", {"body": "sent over http in the outage",
                                                              "client_id": http_id})
            assert response.status == 503, response
            assert "not sent" in response.text
            status, headers, fragment = post_as_htmx(alice, f"/chats/{chat}/messages", {
                "body": "sent over http in the outage", "client_id": http_id})
            assert status == 503 and "not sent" in fragment and headers.get("HX-Retarget") == "#flash", fragment
            tab.send(chat, "sent over the socket in the outage", client_id=socket_id)
            failed = tab.wait_for(lambda f: f'id="pending-{socket_id}"' in f, timeout=5)
            assert "pending--failed" in failed and "sent over the socket in the outage" in failed
            assert not message_ids(failed)
            status, body = get_json(server.url + "/readyz")
            assert status == 503 and body["checks"]["database"].startswith("unreachable"), body
            assert body["checks"]["redis"] == "ok"
            time.sleep(1.5)  # a few seconds away in all
            assert stored_ids(database, chat) == before, "something was stored while the database was away"

            proxy.restore()
            wait_ready(server, 200, timeout=5)
            assert stored_ids(database, chat) == before
            assert not message_ids(tab.collect(0.2), chat), "nothing was announced meanwhile"

            again = alice.post(f"/chats/{chat}/messages", {"body": "sent over http in the outage",
                                                           "client_id": http_id})
            assert again.status == 302, again
            http_message = alice.send(chat, "sent over http in the outage", client_id=http_id)  # a second retry
            assert again.location.endswith(f"#m-{http_message}")
            tab.send(chat, "sent over the socket in the outage", client_id=socket_id)
            confirmed = tab.wait_for(lambda f: confirms(f, socket_id), timeout=5)
            (socket_message,) = message_ids(confirmed, chat)
            tab.send(chat, "sent over the socket in the outage", client_id=socket_id)
            assert message_ids(tab.wait_for(lambda f: confirms(f, socket_id), timeout=5), chat) == [socket_message]

            assert stored_ids(database, chat) == [*before, http_message, socket_message]
            assert stored_bodies(database, chat) == [*bodies_before, "sent over http in the outage",
                                                     "sent over the socket in the outage"]
            listed = alice.get(f"/chats/{chat}/messages?after=0")
            assert message_ids(listed.text, chat) == [*before, http_message, socket_message]
            for message_id in (http_message, socket_message):
                bob_tab.wait_for_message(message_id, timeout=2)
            assert proxy.accepted > 1, "the app never went through the proxy"
