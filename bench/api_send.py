"""API sends per second against the page's: 10 clients in a closed loop, the real app under gunicorn.

One fresh server (gunicorn -k gevent -w 1, SQLite; PostgreSQL + Redis with --redis), a group chat
of the sender and --clients members. Each member is one client that sends its next message when
the answer to the previous one has arrived (a closed loop), for --seconds, once per way of
sending, one way after the other on the same server:

  api      POST /api/v1/chats/{id}/messages {"text", "client_id"} with a Bearer token (201)
  page     POST /chats/{id}/messages as a page without its socket does (static/outbox.js): the
           session cookie, X-CSRFToken, HX-Request, the form's body, client_id and `after` (the
           newest message the page has: the answer brings every message after it, the others'
           included)
  socket   the page's socket: {"type": "send", ...}, answered by the stored message and the end
           of the "sending…" line; the socket also gets every other client's message (a page's
           socket is subscribed to its chats)
  program  the program socket: {"type": "send", "chat", "text", "client_id"} with a Bearer token,
           answered {"type": "sent", ...}; not subscribed, so it gets only its answers
  me       GET /api/v1/me with the token: no send at all, what any API call costs (the token,
           the limits, the request's and answer's checks)

Printed per way: sends/s, latency p50/p99 (request out -> whole answer in), server CPU per send
(master + worker utime+stime over the window, / sends) and the load client's CPU. The tokens are
made in the server's database by a subprocess with the server's environment (core/tokens.create).
A benchmark, not a test: exit 0 whatever it measured (1 only when it could not run).

    .venv/bin/python bench/api_send.py                              # 10 clients, 10 s per way
    .venv/bin/python bench/api_send.py --seconds 3 --ways api page  # a quick look
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402
from gevent.event import Event  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fanout  # noqa: E402
from fanout import HOST, Server, Tab, login, percentile, progress  # noqa: E402

WAYS = ("api", "page", "socket", "program", "me")

# Run with the server's environment: a read-write token for each user named, {name: secret}.
TOKENS = """
import json, sys
from sqlalchemy import select
from webchat import create_app
from webchat.core import tokens
from webchat.extensions import db
from webchat.models import User
app = create_app({"RATELIMIT_ENABLED": False})
with app.app_context():
    users = db.session.scalars(select(User).where(User.username.in_(json.loads(sys.argv[1])))).all()
    print(json.dumps({u.username: tokens.create(u, "bench", "write").secret for u in users}))
"""

ARTICLE_ID = re.compile(rb'<article id="m-(\d+)"')
SENT = re.compile(rb'id="pending-([A-Za-z0-9_-]+)" hx-swap-oob="delete"')
PROGRAM_SENT = re.compile(rb'"type":"sent","client_id":"([A-Za-z0-9_-]+)"')


def make_tokens(server: Server, names: list[str]) -> dict[str, str]:
    """A read-write token for each user, made in the server's database: {name: "wc_…"}."""
    made = subprocess.run([sys.executable, "-c", TOKENS, json.dumps(names)], cwd=server.app_dir, env=server.env,
                          capture_output=True, text=True, timeout=600)
    if made.returncode:
        raise RuntimeError(f"making tokens failed:\n{made.stderr[-2000:]}")
    return json.loads(made.stdout.strip().splitlines()[-1])


def csrf_token(port: int, cookie: str) -> tuple[str, str]:
    """What a page holds to send: a CSRF token (GET /csrf-token, as static/csrf.js) and the cookie
    (the session may be rewritten to carry the token's secret)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", "/csrf-token", headers={"Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET /csrf-token: {response.status}")
        return json.loads(body)["token"], fanout.session_cookie(response) or cookie
    finally:
        conn.close()


class Client:
    """One client of the closed loop: send, wait for the whole answer, send the next."""

    def __init__(self, way: str, port: int, chat: int, name: str, secret: str, cookie: str) -> None:
        self.way, self.port, self.chat, self.name = way, port, chat, name
        self.secret, self.cookie = secret, cookie
        self.latencies: list[int] = []  # ns per send, in the window only
        self.errors: list[str] = []
        self.prefix = f"bench-{uuid.uuid4().hex[:12]}"
        self.seq = 0
        self.newest = 0  # the page's newest message (the "after" it sends)
        self.conn: http.client.HTTPConnection | None = None
        self.tab: Tab | None = None
        self.answered = Event()
        self.waiting_for = ""

    # ----- setting up ----------------------------------------------------------------------------

    def open(self, newest: int) -> None:
        self.newest = newest
        if self.way in ("api", "page", "me"):
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)  # kept alive, as a browser's
            if self.way == "page":
                self.csrf, self.cookie = csrf_token(self.port, self.cookie)
            return
        self.tab = Tab(self.name, self.cookie if self.way == "socket" else None, None, 0)
        self.tab.connect(self.port, False, bearer=self.secret if self.way == "program" else None)
        self.tab.on_text = self.on_text
        gevent.spawn(self.tab.run)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.tab is not None:
            self.tab.close()

    # ----- one send ----------------------------------------------------------------------------

    def send_one(self) -> None:
        client_id = f"{self.prefix}-{self.seq}"
        text = f"bench {self.seq} {time.time_ns()}"
        self.seq += 1
        if self.way == "me":
            self._http("GET", "/api/v1/me", "", {"Authorization": f"Bearer {self.secret}"}, 200)
        elif self.way == "api":
            self._http("POST", f"/api/v1/chats/{self.chat}/messages",
                       json.dumps({"text": text, "client_id": client_id}),
                       {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}, 201)
        elif self.way == "page":
            form = urlencode({"body": text, "client_id": client_id, "after": self.newest})
            body = self._http("POST", f"/chats/{self.chat}/messages", form, {
                "Cookie": self.cookie, "X-CSRFToken": self.csrf, "HX-Request": "true",
                "HX-Trigger": f"pending-{client_id}", "HX-Target": "messages",
                "Content-Type": "application/x-www-form-urlencoded"}, 200)
            ids = [int(i) for i in ARTICLE_ID.findall(body)]
            self.newest = max([self.newest, *ids])
        else:
            self.answered.clear()
            self.waiting_for = client_id
            if self.way == "socket":
                self.tab.send_json({"type": "send", "chat": self.chat, "body": text, "client_id": client_id})
            else:
                self.tab.send_json({"type": "send", "chat": self.chat, "text": text, "client_id": client_id})
            if not self.answered.wait(60):
                raise RuntimeError(f"no answer to a {self.way} send within 60 s ({self.tab.close_reason})")

    def _http(self, method: str, path: str, body: str, headers: dict, status: int) -> bytes:
        self.conn.request(method, path, body=body.encode(), headers=headers)
        response = self.conn.getresponse()
        answer = response.read()
        if response.status != status:
            raise RuntimeError(f"{method} {path}: {response.status} {answer[:300]!r}")
        return answer

    def on_text(self, text: bytes, now: int) -> None:
        pattern = SENT if self.way == "socket" else PROGRAM_SENT
        if any(found.decode() == self.waiting_for for found in pattern.findall(text)):
            self.answered.set()
        elif b'"type":"error"' in text or b"pending--failed" in text:
            self.errors.append(text[:300].decode(errors="replace"))
            self.answered.set()

    def loop(self, until: float, counting: bool) -> None:
        """Send until the monotonic clock reaches `until`; keep latencies when counting."""
        while time.monotonic() < until:
            began = time.perf_counter_ns()
            try:
                self.send_one()
            except Exception as e:  # noqa: BLE001 - counted and reported
                self.errors.append(f"{type(e).__name__}: {e}")
                return
            if counting:
                self.latencies.append(time.perf_counter_ns() - began)


def run_way(way: str, server: Server, seed: dict, cookies: dict, secrets: dict, args) -> dict:
    """Warm up, then the closed loop for --seconds: the figures of one way of sending."""
    clients = [Client(way, server.port, seed["chat"], name, secrets[name], cookies[name])
               for name in seed["members"][:args.clients]]
    try:
        for client in clients:
            client.open(seed["newest"])
        warm = gevent.pool.Group()
        for client in clients:
            warm.spawn(client.loop, time.monotonic() + args.warmup, False)
        warm.join()
        gevent.sleep(0.5)
        progress(f"[{way}] {len(clients)} clients sending for {args.seconds:g} s")
        cpu0, client0, wall0 = server.cpu(), fanout.client_cpu_seconds(), time.monotonic()
        group = gevent.pool.Group()
        for client in clients:
            group.spawn(client.loop, wall0 + args.seconds, True)
        group.join()
        wall = time.monotonic() - wall0
        cpu, client_cpu = server.cpu() - cpu0, fanout.client_cpu_seconds() - client0
        server.check()
    finally:
        for client in clients:
            client.close()
    latencies = sorted(lat for c in clients for lat in c.latencies)
    sends = len(latencies)
    errors = [e for c in clients for e in c.errors]
    progress(f"[{way}] {sends} sends in {wall:.1f} s" + (f", {len(errors)} errors" if errors else ""), done=True)
    return {"way": way, "sends": sends, "sends_per_s": sends / wall if wall else None,
            "p50_ms": percentile(latencies, 50) / 1e6 if latencies else None,
            "p99_ms": percentile(latencies, 99) / 1e6 if latencies else None,
            "cpu_us_per_send": cpu * 1e6 / sends if sends else None, "server_cpu_pct": 100 * cpu / wall,
            "client_cpu_pct": 100 * client_cpu / wall, "errors": errors[:3], "error_count": len(errors)}


def main() -> int:
    parser = argparse.ArgumentParser(description="API sends per second against the page's (bench/README.md).")
    parser.add_argument("--clients", type=int, default=10, help="clients in the closed loop, one user each")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each way's window")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of sending before each window")
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--redis", action="store_true", help="PostgreSQL + Redis instead of SQLite")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args()
    fanout.raise_fd_limit(4096)
    client_cpu, server_cpu = fanout.pick_cpus(args.pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    tmp = Path(tempfile.mkdtemp(prefix="webchat-api-send-"))
    server = Server(args.clients, tmp, server_cpu, fanout.ROOT, pg_redis=args.redis, label="api-send")
    server.env.update({"WEBCHAT_API_RATE_LIMIT": "1000000 per minute", "WEBCHAT_API_SEND_LIMIT": "1000000 per minute"})
    results, load = [], fanout.loadavg()
    try:
        server.prepare()
        seed = server.seed
        secrets = make_tokens(server, seed["members"])
        server.start()
        cookies = {name: login(server.port, name) for name in seed["members"]}
        for way in args.ways:
            results.append(run_way(way, server, seed, cookies, secrets, args))
        problems = server.log_problems(10)
    finally:
        server.stop()
    print(f"\n{args.clients} clients in a closed loop, {args.seconds:g} s per way, gunicorn -k gevent -w 1, "
          f"{'PostgreSQL + Redis' if args.redis else 'SQLite'}; 1-minute load {load:.2f} at the start, "
          f"{fanout.loadavg():.2f} at the end")
    print(f"{'way':<8} {'sends':>6} {'sends/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'server µs/send':>14} "
          f"{'server cpu %':>12} {'client cpu %':>12} {'errors':>6}")

    def num(value, template):
        return template.format(value) if value is not None else "-"
    for r in results:
        print(f"{r['way']:<8} {r['sends']:>6} {num(r['sends_per_s'], '{:.0f}'):>8} {num(r['p50_ms'], '{:.1f}'):>7} "
              f"{num(r['p99_ms'], '{:.1f}'):>7} {num(r['cpu_us_per_send'], '{:.0f}'):>14} "
              f"{r['server_cpu_pct']:>12.0f} {r['client_cpu_pct']:>12.0f} {r['error_count']:>6}")
        for error in r["errors"]:
            print("   ", error)
    for line in problems:
        print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
