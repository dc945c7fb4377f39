"""Reconnect storm: N pages on one gevent worker lose it to a deploy and all come back at once.

One gunicorn -k gevent -w 1 server (bench/fanout.py's Server: fresh SQLite database, seeded by
bench/seed.py with N members of one group chat and a sender). Each member is one page: a
session cookie minted directly (a LoginSession row per member and Flask's own session
signing with the server's SECRET_KEY, as start_session() leaves it: logging 10,000 users in
through the form would take minutes), a WebSocket (fanout.py's Tab) that sends "view" with the
page's newest message id and change cursor, as static/connection.js does.

1. Opens: all N pages connect and view, PARALLEL at a time; the worker's CPU over those
   opens / N is the CPU per open (handshake, session and user, subscriptions, replay, chat list).
2. The deploy: SIGTERM to gunicorn. The old worker says 1012 to every page and exits; while it
   is down, AWAY messages are stored straight into the database (what the pages must catch up);
   then a NEW server starts on the same port.
3. The storm: each page runs connection.js's reconnect rule: after a close, failures += 1 and a
   retry after Math.random() * min(30 s, 1 s * 2^min(failures-1, 5)) (full jitter); a connect
   refused counts as a close; meanwhile it probes HEAD /healthz every 1.2-1.8 s (uniform, the
   page's young-outage probe) and reconnects at once on the first answer after a failed probe.
   (The page's HTTP polls, 20 s after going down, fall after the storm and are left out.)
   On open it sends "view" with its newest id and waits for the chat list that ends the answer.
   Meanwhile a sender socket sends RATE live messages a second; a page receives each one it was
   caught up for (its answer came before the send) and the send-to-receipt latency counts.
4. Checks: every page got every message after its id at the close, by the end: none lost, and
   it reports duplicates (the page drops them by id) and any out of order.

Reports: time from the 1012 until every page is caught up (and from the new server's first
answer), the new worker's CPU over the storm, CPU per open, live-message p50/p99/max.
This is a benchmark, not a test: it asserts nothing.

    .venv/bin/python bench/storm.py --pages 10000
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import fanout  # noqa: E402  (monkey-patches for gevent first)
import gevent  # noqa: E402
import gevent.pool  # noqa: E402
from fanout import HOST, HandshakeError, Server, Tab  # noqa: E402
from gevent.event import Event  # noqa: E402

ARTICLE_ID = re.compile(rb'<article id="m-(\d+)"')
LIVE_BODY = re.compile(rb"storm (\d+) (\d+)")
RECONNECT_CAP_MS = 30000

# Run in a subprocess with the server's environment: a live login session per member and its
# cookie, signed as Flask signs it (auth/routes.py start_session's keys).
MINT = r"""
import json, secrets, sys
from sqlalchemy import select
from webchat import create_app
from webchat.extensions import db
from webchat.models import User
from webchat.core.sessions import LoginSession, lifetime, login_id, utcnow
app = create_app()
names = set(json.loads(sys.stdin.read()))
with app.app_context():
    serializer = app.session_interface.get_signing_serializer(app)
    now = utcnow()
    cookies = {}
    for user in db.session.scalars(select(User)):
        if user.username not in names:
            continue
        login = LoginSession(id=secrets.token_hex(16), user_id=user.id, remember=False, created_at=now,
                             expires_at=now + lifetime(False))
        db.session.add(login)
        cookies[user.username] = "session=" + serializer.dumps(
            {"_user_id": login_id(user, login), "sid": login.id, "_fresh": True})
    db.session.commit()
print(json.dumps(cookies))
"""

# Messages stored while no server runs (the sender's, through the app's own send path).
AWAY = r"""
import sys, uuid
from sqlalchemy import select
from webchat import create_app
from webchat.extensions import db
from webchat.models import User
from webchat.core import messaging
app = create_app()
chat, count = int(sys.argv[1]), int(sys.argv[2])
with app.test_request_context():
    sender = db.session.scalar(select(User).where(User.username == "bench-sender"))
    for i in range(count):
        client_id = uuid.uuid4().hex
        messaging.send_message(messaging.sender_in(chat, sender.id, client_id), f"away {i}", client_id)
        db.session.commit()
"""


def backoff_ms(n: int) -> float:
    """static/connection.js backoff(n): full jitter over 1 s * 2^n, at most 30 s."""
    return random.random() * min(RECONNECT_CAP_MS, 1000 * 2 ** min(n, 5))


def probe_delay_s() -> float:
    """connection.js probeDelay() while the outage is younger than a minute."""
    return 1.5 * (0.8 + 0.4 * random.random())


class Page:
    """One browser page: its socket, its reconnect rule, and the message ids it was shown."""

    def __init__(self, name: str, cookie: str, chat: int, newest: int, run: "Run") -> None:
        self.name, self.cookie, self.chat, self.run = name, cookie, chat, run
        self.last_id = newest  # webchat.resumeAfterId()
        self.ids: list[int] = []  # article ids in arrival order, every socket of this page
        self.failures = 0
        self.unreachable = False
        self.heard_back = False
        self.live = False  # the server answered this socket's view
        self.answered_at: float | None = None  # monotonic time of the latest view's answer
        self.wake = Event()
        self.tab: Tab | None = None
        self.opens = 0
        self.prober: gevent.Greenlet | None = None

    def on_text(self, text: bytes, now_ns: int) -> None:
        for match in ARTICLE_ID.finditer(text):
            message_id = int(match.group(1))
            self.ids.append(message_id)
            self.last_id = max(self.last_id, message_id)
        live = LIVE_BODY.search(text)
        if live and self.live and self.run.counting:
            _, sent_ns = int(live.group(1)), int(live.group(2))
            if self.answered_ns is not None and self.answered_ns < sent_ns:
                self.run.latencies.append(now_ns - sent_ns)
        if fanout.CHAT_LIST_MARK in text and not self.live:
            self.live = True
            self.answered_at, self.answered_ns = time.monotonic(), now_ns
            self.failures = 0
            self.run.on_live(self)

    answered_ns: int | None = None

    def open(self) -> bool:
        tab = Tab(self.name, self.cookie, None, 0)
        tab.on_text = self.on_text
        try:
            tab.connect(self.run.port, False, timeout=30)
        except (OSError, HandshakeError):
            return False
        self.tab = tab
        self.live = False
        self.opens += 1
        tab.send_json({"type": "view", "chat": self.chat, "after": self.last_id, "changes": 0})
        return True

    def serve(self) -> None:
        """Read until the socket closes, then reconnect by the page's rule; forever (killed at the end)."""
        while True:
            self.tab.run()
            self.live = False
            self.tab.close()
            self.run.closed += 1
            while True:
                self.lost()
                if self.open():
                    break

    def lost(self) -> None:
        self.failures += 1
        self.heard_back = False
        self.wake.clear()
        if self.prober is None or self.prober.dead:  # the page's probe timer runs across failures
            self.prober = gevent.spawn(self.probe)
        self.wake.wait(backoff_ms(self.failures - 1) / 1000)

    def probe(self) -> None:
        """connection.js probe(): HEAD /healthz until answered; an answer after a failed one reconnects now."""
        while not self.heard_back and not self.live:
            wait = probe_delay_s()
            gevent.sleep(wait)
            try:
                conn = http.client.HTTPConnection(HOST, self.run.port, timeout=wait)
                conn.request("HEAD", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                ok = False
            was_unreachable, self.unreachable = self.unreachable, not ok
            self.heard_back = ok
            if ok and was_unreachable:
                self.wake.set()


class Run:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.port = server.port
        self.cpu_at_first_answer = 0.0
        self.counting = False
        self.latencies: list[int] = []
        self.closed = 0
        self.caught: set[Page] = set()
        self.away_ids: set[int] | None = None  # None: before the deploy
        self.first_answer_at: float | None = None
        self.caught_at: list[float] = []
        self.all_live = Event()
        self.pages: list[Page] = []

    def on_live(self, page: Page) -> None:
        """Caught up: answered, and shown every message stored while away (once they exist)."""
        if self.first_answer_at is None and self.away_ids:
            self.first_answer_at = time.monotonic()
            # The new worker booted before it answered: its CPU from here on is the storm's.
            self.cpu_at_first_answer = sum(fanout.cpu_seconds(pid)
                                           for pid in fanout.children_of(self.server.process.pid))
        if self.away_ids is None or self.away_ids <= set(page.ids):
            if page not in self.caught:
                self.caught.add(page)
                self.caught_at.append(time.monotonic())
            if len(self.caught) >= len(self.pages):
                self.all_live.set()


def subprocess_in(server: Server, code: str, *args, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=server.app_dir, env=server.env, input=stdin,
                          capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise RuntimeError(done.stdout + done.stderr)
    return done.stdout


def restart(server: Server) -> None:
    """A new gunicorn on the server's port, without Server.start's own GET /login checks (those time
    out while thousands of pages are at the door): the worker forked is enough, the pages find it."""
    command = [str(fanout.BIN / "gunicorn"), "-k", "gevent", "-w", "1", "--no-control-socket", "--graceful-timeout",
               "5", "-b", f"{HOST}:{server.port}", "wsgi:app"]
    server.process = subprocess.Popen(command, cwd=server.app_dir, env=server.env, stdout=server.log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("gunicorn exited: see its log")
        workers = fanout.children_of(server.process.pid)
        if workers:
            server.workers = workers
            return
        gevent.sleep(0.05)
    raise RuntimeError("gunicorn forked no worker within 300 s")


def chat_ids_after(db_path: Path, chat: int, after: int) -> list[int]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute(
            "SELECT id FROM messages WHERE chat_id = ? AND id > ? ORDER BY id", (chat, after))]


def worker_cpu(server: Server) -> float:
    return sum(fanout.cpu_seconds(pid) for pid in server.workers)


def start_profiler(args, server: Server, label: str):
    """--profile: py-spy's collapsed stacks of the worker (stopped by stop_profiler), or None."""
    if not args.profile:
        return None
    out = Path(args.profile) / f"storm-{label}-{args.pages}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([str(fanout.BIN / "py-spy"), "record", "--pid", str(server.workers[0]), "--rate", "200",
                                "--format", "raw", "--nonblocking", "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gevent.sleep(1)  # let it attach
    return process, out


def stop_profiler(profiler) -> None:
    if profiler is None:
        return
    process, out = profiler
    process.send_signal(signal.SIGINT)
    process.wait(30)
    print(f"py-spy collapsed stacks: {out}", file=sys.stderr)


def ms(ns: float) -> float:
    return ns / 1e6


def storm(args, tmp: Path, app_dir: Path) -> dict:
    _, server_cpu = fanout.pick_cpus(args.pin)
    server = Server(args.pages, tmp, server_cpu, app_dir)
    result: dict = {"pages": args.pages}
    try:
        server.prepare()
        seed = server.seed
        chat, newest = seed["chat"], seed["newest"] or 0
        fanout.progress(f"minting {args.pages} session cookies")
        cookies = json.loads(subprocess_in(server, MINT, stdin=json.dumps(seed["members"] + [seed["sender"]])))
        server.start()
        run = Run(server)
        run.pages = [Page(name, cookies[name], chat, newest, run) for name in seed["members"]]

        # 1. Opens, PARALLEL at a time: worker CPU / N.
        fanout.progress(f"opening {args.pages} pages")
        profiler = start_profiler(args, server, "open")
        before, started = worker_cpu(server), time.monotonic()
        pool = gevent.pool.Pool(args.parallel)
        opened = pool.imap_unordered(lambda page: (page, page.open()), run.pages)
        readers = gevent.pool.Group()
        for page, ok in opened:
            if not ok:
                raise RuntimeError(f"{page.name} could not open its socket")
            readers.spawn(page.serve)
        if not run.all_live.wait(120):
            raise RuntimeError(f"only {len(run.caught)} of {args.pages} pages were answered")
        result["open_cpu_ms"] = (worker_cpu(server) - before) * 1000 / args.pages
        result["open_wall_s"] = time.monotonic() - started
        stop_profiler(profiler)
        fanout.progress(f"{args.pages} pages live; CPU per open {result['open_cpu_ms']:.2f} ms", done=True)
        last_before = {page: page.last_id for page in run.pages}
        if args.opens_only:
            readers.kill(block=False)
            return result

        # 2. The deploy: 1012 to all, messages while down, a new server on the same port.
        run.caught, run.all_live = set(), Event()
        closed_at = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        server.process.wait(30)
        result["closes_heard"] = sum(1 for page in run.pages if not page.live)
        subprocess_in(server, AWAY, str(chat), str(args.away))
        run.away_ids = set(chat_ids_after(tmp / "webchat.db", chat, max(last_before.values())))
        run.caught, run.caught_at = set(), []  # pages answered by the old worker while it wound down count again
        fanout.progress(f"old server gone; {args.away} messages stored while away; starting the new one")
        # Same port, new master and worker.
        starting_at = time.monotonic()
        restart(server)
        up_at = run.first_answer_at or time.monotonic()
        result["down_s"] = starting_at - closed_at
        result["start_to_first_answer_s"] = up_at - starting_at

        # 3. The storm, with a live sender.
        sender = Tab(seed["sender"], cookies[seed["sender"]], None, 0)
        sender.connect(server.port, False)
        sender.on_text = lambda text, now: None
        gevent.spawn(sender.run)
        run.counting = True
        sent = 0

        def send_live() -> None:
            nonlocal sent
            while True:
                sender.send_json({"type": "send", "chat": chat, "client_id": f"storm-{sent}",
                                  "body": f"storm {sent} {time.time_ns()}"})
                sent += 1
                gevent.sleep(1 / args.rate)

        sending = gevent.spawn(send_live)
        caught_up = run.all_live.wait(args.timeout)
        storm_end = time.monotonic()
        cpu_at_end = worker_cpu(server)
        gevent.sleep(args.tail)  # live messages after the storm, to the reconnected pages
        sending.kill()
        gevent.sleep(2)
        run.counting = False
        result.update(caught_up=caught_up, caught_up_pages=len(run.caught), sent_live=sent,
                      storm_from_1012_s=storm_end - closed_at, storm_from_up_s=storm_end - up_at,
                      storm_cpu_s=cpu_at_end - run.cpu_at_first_answer)

        # 4. Every page got everything after its id at the close, in order, once.
        db_path = tmp / "webchat.db"
        lost = duplicated = disordered = 0
        for page in run.pages:
            expected = chat_ids_after(db_path, chat, last_before[page])
            got = [i for i in page.ids if i > last_before[page]]
            lost += len(set(expected) - set(got))
            duplicated += len(got) - len(set(got))
            first_seen = list(dict.fromkeys(got))
            disordered += sum(1 for a, b in zip(first_seen, first_seen[1:], strict=False) if b < a)
        result.update(lost=lost, duplicates=duplicated, out_of_order=disordered,
                      reopens=sum(page.opens for page in run.pages) - args.pages)
        caught = sorted(t - up_at for t in run.caught_at)
        if caught:
            result["caught_up_s_after_first_answer"] = {f"p{p}": round(fanout.percentile(caught, p), 2)
                                                        for p in (10, 50, 90, 100)}
        latencies = sorted(run.latencies)
        result["live_deliveries"] = len(latencies)
        if latencies:
            result.update(live_p50_ms=ms(fanout.percentile(latencies, 50)),
                          live_p99_ms=ms(fanout.percentile(latencies, 99)), live_max_ms=ms(latencies[-1]))
        readers.kill(block=False)
        result["log_errors"] = server.log_error_summary()
        result["log_problems"] = server.log_problems(20)
        return result
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--parallel", type=int, default=100, help="handshakes in flight while opening")
    parser.add_argument("--away", type=int, default=20, help="messages stored while the server is down")
    parser.add_argument("--rate", type=float, default=4, help="live messages a second during the storm")
    parser.add_argument("--timeout", type=float, default=120, help="give up on the storm after this")
    parser.add_argument("--tail", type=float, default=3, help="seconds of live messages after the storm")
    parser.add_argument("--pin", action="store_true", help="client and server on different cores")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the worker while the pages open")
    parser.add_argument("--opens-only", action="store_true", help="stop after the opens (no deploy, no storm)")
    parser.add_argument("--app", default=str(fanout.ROOT), help="the checkout to serve")
    args = parser.parse_args()
    fanout.raise_fd_limit(2 * args.pages + 1000)
    with tempfile.TemporaryDirectory(prefix="storm-") as tmp:
        tmp = Path(tmp)
        app_dir = tmp / "app"
        app_dir.mkdir()
        described = fanout.snapshot_app(Path(args.app).resolve(), app_dir)
        print(f"app: {described}; load average {fanout.loadavg():.1f}", file=sys.stderr)
        result = storm(args, tmp, app_dir)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
