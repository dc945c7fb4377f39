"""Fan-out benchmark: one sender, N listening sockets in one group chat, the real app under gunicorn.

For each N given with --members it starts a fresh server (gunicorn -k gevent -w 1 on 127.0.0.1,
a new SQLite database in a temp dir), seeds N members plus a sender into one group chat, logs
each in over HTTP, opens one WebSocket per member (and one for the sender), sends "view" on
each and waits for its chat-list frame. Then the sender sends --rate messages a second for
--seconds over its socket; every body carries its send time, so each member socket measures
send -> receipt latency. It prints one table row per N. See bench/README.md.

This is a benchmark, not a test: it asserts nothing and exits 0 whatever it measured (1 only
when it could not run at all).
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402
from gevent.event import Event  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(__file__).resolve().parent / "seed.py"
APP_PARTS = ("webchat", "templates", "static", "migrations", "wsgi.py")  # what the server needs
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"  # the only address this benchmark ever talks to
PASSWORD = "bench-password-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"  # trust auth; each run creates its own database
PG_MARGIN = 10  # connections left to others when the workers' pools are sized (--workers)
REDIS_URL = "redis://127.0.0.1:6379/0"  # shared: the app prefixes its keys and channels with "webchat:"

BENCH_BODY = re.compile(rb"bench (\d+) (\d+)")
# A delivery is a message article carrying a bench body; previews elsewhere (chat list) don't count.
ARTICLE = re.compile(rb'<article id="m-(\d+)"(.*?)</article>', re.S)
CHAT_LIST_MARK = b'id="chat-list"'
SENT_MARK = re.compile(rb'id="pending-bench-[0-9a-f]+-(\d+)" hx-swap-oob="delete"')
FAILED_MARK = b"pending--failed"
ERROR_MARK = b'id="flash"'
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Timeout)\b.*:")
WARNING_EVENT = re.compile(r"WARNING\b.*?\b([a-z_]+\.[a-z_]+\b.*)")
LOG_PROBLEM = re.compile(r"Traceback|ERROR|CRITICAL|Exception|WORKER TIMEOUT|Error:|error:")

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# BENCH_PROGRESS=1 writes progress lines into a file too (profiling scripts wait for them).
_TTY = sys.stderr.isatty() or os.environ.get("BENCH_PROGRESS") == "1"


def progress(text: str, *, done: bool = False) -> None:
    """A status line on stderr: rewritten in place on a terminal; only the final lines otherwise."""
    if _TTY:
        sys.stderr.write("\r\x1b[K" + text + ("\n" if done else ""))
    elif done:
        sys.stderr.write(text + "\n")
    else:
        return
    sys.stderr.flush()


def stop_process_group(process: subprocess.Popen | None, wait: float) -> None:
    """SIGTERM a server's process group, SIGKILL it if it has not exited within `wait` seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


# ----- /proc -------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


_load_wait_used = 0.0  # --load-wait is one budget for the whole invocation


def wait_for_quiet(max_load: float, budget: float, label: str) -> dict:
    """Wait until the 1-minute load average is below max_load, at most what is left of the
    budget (seconds, shared by all runs of this invocation); what it was."""
    global _load_wait_used
    timeout = max(0.0, budget - _load_wait_used)
    started, first = time.monotonic(), loadavg()
    load = first
    while load >= max_load and time.monotonic() - started < timeout:
        progress(f"[{label}] waiting for the 1-minute load average ({load:.2f}) to drop below {max_load:g}: "
                 f"{time.monotonic() - started:.0f}/{timeout:.0f} s")
        time.sleep(5)
        load = loadavg()
    waited = time.monotonic() - started
    _load_wait_used += waited
    if waited >= 1:
        progress(f"[{label}] load average {first:.2f} -> {load:.2f} after waiting {waited:.0f} s"
                 + ("" if load < max_load else " (measuring anyway)"), done=True)
    return {"load_start": load, "load_waited_s": round(waited), "load_quiet": load < max_load}


def process_cpu(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return None


def backend_cpu(database: str | None) -> dict:
    """utime + stime of each PostgreSQL backend connected to this run's database: {pid: s}."""
    if not database:
        return {}
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            pids = [row[0] for row in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                                    (database,))]
    except psycopg.Error:
        return {}
    found = {pid: process_cpu(pid) for pid in pids}
    return {pid: cpu for pid, cpu in found.items() if cpu is not None}


def redis_cpu() -> float | None:
    """utime + stime of the machine's redis-server (shared: includes anyone else's traffic)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "redis-server":
                        return process_cpu(int(entry))
            except OSError:
                continue
    return None


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A fresh database, seeded, and gunicorn -k gevent -w W serving it on a free port.

    SQLite in the temp dir by default; with PostgreSQL and Redis (``pg_redis``, always when W > 1)
    a fresh database webchat_bench_<random> on PG_ADMIN's server, dropped in stop(), and
    REDIS_URL set, so every worker publishes to Redis and delivers the others' publications.
    """

    def __init__(self, members: int, tmp: Path, server_cpu: int | None, app_dir: Path, workers: int = 1,
                 pg_redis: bool = False, idle: int = 0, label: str = "") -> None:
        self.members = members
        self.idle = idle
        self.label = label or str(members)
        self.app_dir = app_dir
        self.n_workers = workers
        self.pg_redis = pg_redis
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.tmp = tmp
        self.server_cpu = server_cpu
        self.log_path = tmp / "gunicorn.log"
        self.process: subprocess.Popen | None = None
        self.workers: list[int] = []
        self.seed: dict = {}
        self.database: str | None = None
        self.env = {
            **os.environ,
            "PYTHONPATH": str(app_dir),  # the snapshot's webchat package, whatever the cwd
            "DATABASE_URL": f"sqlite:///{tmp / 'webchat.db'}",
            "WEBCHAT_INSTANCE_PATH": str(tmp / "instance"),
            "SECRET_KEY": "fanout-bench-" + uuid.uuid4().hex,
            "WEBCHAT_REGISTER_LIMIT": "1000000 per hour",
            "WEBCHAT_LOGIN_FAILURE_LIMIT": "1000000 per minute",
            # One sender at --rate messages a second: far past a person's send budget.
            "WEBCHAT_SEND_LIMIT": "1000000 per minute",
            "WEBCHAT_SOCKET_FRAMES_PER_SECOND": "0",
            # And past one user's work budget (core/work_budget.py): the bench measures the send
            # path, not the throttles, as it does with the send limit above.
            "WEBCHAT_WORK_PER_SECOND": "0",
            "WEBCHAT_SOCKETS_PER_USER": "100000",
        }
        self.env.pop("REDIS_URL", None)  # SQLite runs are single-process: no Redis unless asked

    @property
    def pids(self) -> list[int]:
        """The master and its workers."""
        return [self.process.pid, *self.workers]

    def cpu(self) -> float:
        """utime + stime of the master and all workers."""
        return sum(cpu_seconds(pid) for pid in self.pids)

    def workers_rss_kb(self) -> int:
        return sum(rss_kb(pid) for pid in self.workers)

    def _admin(self):
        import psycopg  # only needed for PostgreSQL runs

        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10)

    def prepare(self) -> None:
        if self.pg_redis:
            self.database = f"webchat_bench_{uuid.uuid4().hex[:12]}"
            progress(f"[{self.label}] CREATE DATABASE {self.database}")
            with self._admin() as admin:
                admin.execute(f'CREATE DATABASE "{self.database}"')
                allowed = int(admin.execute("SHOW max_connections").fetchone()[0])
                in_use = admin.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
            self.env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.database
            # The workers' pools together within what the server has left (a margin for the
            # bench's own connections and anyone else's): a socket's frame then waits for a
            # pooled connection instead of being refused, and every socket opens.
            per_worker = max(2, min(30, (allowed - in_use - PG_MARGIN) // self.n_workers))
            self.env["WEBCHAT_DATABASE_CONNECTIONS"] = str(per_worker)
            progress(f"[{self.label}] PostgreSQL: {in_use} of {allowed} connections in use; "
                     f"{per_worker} per worker", done=True)
            self.env["REDIS_URL"] = REDIS_URL
        progress(f"[{self.label}] flask db upgrade")
        run = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=self.app_dir, env=self.env,
                             capture_output=True, text=True, timeout=120)
        if run.returncode:
            raise RuntimeError(f"flask db upgrade failed:\n{run.stdout}{run.stderr}")
        progress(f"[{self.label}] creating {self.members} members, 1 sender"
                 + (f", {self.idle} idle users" if self.idle else "") + " and the chat in the database")
        started = time.monotonic()
        run = subprocess.run([sys.executable, str(SEED), "--members", str(self.members), "--idle", str(self.idle),
                              "--password", PASSWORD], cwd=self.app_dir, env=self.env, capture_output=True, text=True,
                             timeout=900)
        if run.returncode:
            raise RuntimeError(f"seeding failed:\n{run.stdout}{run.stderr}")
        self.seed = json.loads(run.stdout.strip().splitlines()[-1])
        progress(f"[{self.label}] users created: {len(self.seed['members'])} members + 1 sender"
                 + (f" + {len(self.seed.get('idle', []))} idle" if self.idle else "")
                 + f" in {time.monotonic() - started:.1f} s"
                 + (f" ({self.database}, chat id {self.seed['chat']})" if self.database else ""), done=True)

    def start(self) -> None:
        command = [str(BIN / "gunicorn"), "-k", "gevent", "-w", str(self.n_workers), "--no-control-socket",
                   "--graceful-timeout", "5", "-b", f"{HOST}:{self.port}",
                   "wsgi:app"]
        if self.server_cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(self.server_cpu), *command]
        self.log = open(self.log_path, "a")  # noqa: SIM115 - gunicorn writes to it until stop()
        # Its own session: a Ctrl+C in the terminal reaches only us, and we stop the server in order.
        self.process = subprocess.Popen(command, cwd=self.app_dir, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        answered = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/login")
                conn.getresponse().read()
                conn.close()
                answered += 1
            except OSError:
                time.sleep(0.1)
                continue
            # Every worker forked (they import the app one after another: give the last ones time).
            if answered >= 3 and len(children_of(self.process.pid)) == self.n_workers:
                time.sleep(0.5 * self.n_workers)
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn did not answer with {self.n_workers} workers within 60 s")
        workers = children_of(self.process.pid)
        if len(workers) != self.n_workers:
            raise RuntimeError(f"expected {self.n_workers} gunicorn workers under {self.process.pid}, found {workers}")
        self.workers = sorted(workers)
        if self.server_cpu is not None:
            for pid in self.pids:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(pid, {self.server_cpu})

    def check(self) -> None:
        """Raise if gunicorn or a worker is gone (or was replaced): the run can't go on."""
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
        for worker in self.workers:
            try:
                with open(f"/proc/{worker}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                parent = None
            if parent != self.process.pid:
                raise RuntimeError(f"gunicorn worker {worker} is gone (see its log below)")

    def stop(self) -> None:
        stop_process_group(self.process, 15)
        if getattr(self, "log", None):
            self.log.close()
        if self.database:
            try:
                with self._admin() as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                progress(f"[{self.label}] dropped {self.database}", done=True)
            except Exception as e:  # noqa: BLE001 - say so, and go on with the clean-up
                print(f"[{self.label}] could not drop database {self.database}: {e}", file=sys.stderr)

    def socket_workers(self, tabs: list) -> dict:
        """Which worker holds the server end of each tab's connection: {tab: pid or None}.

        The server end's inode comes from /proc/net/tcp (local port = the server's, remote port =
        the tab's local port); the worker is the one with that inode among its /proc/<pid>/fd.
        """
        inode_pid = {}
        for pid in self.workers:
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if target.startswith("socket:["):
                            inode_pid[int(target[8:-1])] = pid
        port_inode = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
                    if state == "01" and int(local.rsplit(":", 1)[1], 16) == self.port:
                        port_inode[int(remote.rsplit(":", 1)[1], 16)] = int(inode)
        found = {}
        for tab in tabs:
            try:
                client_port = tab.sock.getsockname()[1]
            except (OSError, AttributeError):
                found[tab] = None
                continue
            found[tab] = inode_pid.get(port_inode.get(client_port))
        return found

    def log_error_summary(self) -> dict:
        """Each exception line ("module.SomeError: text") and each WARNING event ("database.unavailable
        error=...", logged without a traceback) in the whole log, counted."""
        if not self.log_path.exists():
            return {}
        found: Counter = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            line = line.strip()
            if EXCEPTION_LINE.match(line):
                found[line[:200]] += 1
            elif (event := WARNING_EVENT.search(line)) is not None:
                found["WARNING " + event.group(1)[:200]] += 1
        return dict(found.most_common(10))

    def log_problems(self, limit: int = 60) -> list[str]:
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(errors="replace").splitlines()
        picked, i = [], 0
        while i < len(lines) and len(picked) < limit:
            if LOG_PROBLEM.search(lines[i]):
                # the matching line and the indented traceback lines after it
                picked.append(lines[i])
                i += 1
                while i < len(lines) and lines[i].startswith((" ", "\t")) and len(picked) < limit:
                    picked.append(lines[i])
                    i += 1
            else:
                i += 1
        return picked


# ----- HTTP login --------------------------------------------------------------------------------

CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


def session_cookie(response: http.client.HTTPResponse) -> str | None:
    cookie = None
    for header in response.headers.get_all("Set-Cookie") or []:
        first = header.split(";", 1)[0].strip()
        if first.startswith("session="):
            cookie = first
    return cookie


def login(port: int, username: str) -> str:
    """Sign in through the login form (CSRF token and all); the session cookie, "session=..."."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        page = response.read()
        cookie = session_cookie(response)
        token = CSRF.search(page)
        if response.status != 200 or not cookie or not token:
            raise RuntimeError(f"GET /login: {response.status}, cookie={bool(cookie)}, csrf={bool(token)}")
        form = urlencode({"csrf_token": token.group(1).decode(), "username": username, "password": PASSWORD})
        conn.request("POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
            "Origin": f"http://{HOST}:{port}"})
        response = conn.getresponse()
        response.read()
        cookie = session_cookie(response)
        if response.status != 302 or not cookie:
            raise RuntimeError(f"POST /login as {username}: {response.status}")
        return cookie
    finally:
        conn.close()


# ----- a minimal WebSocket client ------------------------------------------------------------------

def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, final client frame (RFC 6455 5.2)."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = os.urandom(4)
    if not length:
        return head + mask
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    return head + mask + masked


class HandshakeError(Exception):
    pass


class Tab:
    """One browser tab's socket, as the benchmark sees it: a reader greenlet that counts receipts."""

    def __init__(self, name: str, cookie: str, stats: "RunStats | None", total: int) -> None:
        self.name = name
        self.cookie = cookie
        self.stats = stats  # None for the sender's own socket
        self.counts = bytearray(total)  # receipts per message seq on this socket
        self.sock: socket.socket | None = None
        self.ready = Event()
        self.ack_upto = 0  # newest message id not yet acknowledged (--ack)
        self.ack_due = 0.0
        self.closed = False
        self.close_reason = ""
        self.extensions = None  # the server's Sec-WebSocket-Extensions answer, if any
        self._inflater = None
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._compressed = False
        self.on_text = None  # the sender overrides this

    def connect(self, port: int, deflate: bool, timeout: float = 60.0, path: str = "/socket",
                bearer: str | None = None, receive_buffer: int = 0) -> None:
        """The handshake: a browser's (the cookie, Origin), or with bearer a program's (an access
        token in Authorization, no Origin: bench/program_fanout.py, bench/api_send.py).
        receive_buffer: SO_RCVBUF set before connecting (a small TCP window), 0: the system's."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(timeout)
        try:
            sock.connect((HOST, port))
        except OSError:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
            f"Authorization: Bearer {bearer}" if bearer else f"Origin: http://{HOST}:{port}",
        ]
        if self.cookie:  # bench/versus.py's socket.io peers have no login
            lines.append(f"Cookie: {self.cookie}")
        if deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                raise HandshakeError(f"connection closed during handshake after {len(head)} bytes")
            head += chunk
            if len(head) > 65536:
                sock.close()
                raise HandshakeError("handshake response too long")
        head, _, rest = head.partition(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        if not status.startswith("HTTP/1.1 101"):
            sock.close()
            raise HandshakeError(f"handshake answered {status!r}")
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions":
                self.extensions = value.strip()
        if self.extensions and "permessage-deflate" in self.extensions:
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        sock.settimeout(None)
        self.sock = sock
        self._buf += rest

    def send_json(self, obj: dict) -> None:
        self.sock.sendall(client_frame(OP_TEXT, json.dumps(obj).encode()))

    def run(self) -> None:
        """Read frames until the socket closes (or the greenlet is killed)."""
        try:
            if self._buf:
                self._parse(time.time_ns())
            while not self.closed:
                data = self.sock.recv(262144)
                if not data:
                    self.close_reason = self.close_reason or "EOF from server"
                    break
                now = time.time_ns()
                self._buf += data
                self._parse(now)
        except OSError as e:
            self.close_reason = self.close_reason or f"socket error: {e}"
        finally:
            self.closed = True

    def _parse(self, now: int) -> None:
        buf = self._buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length, pos = b1 & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            if b1 & 0x80:
                raise OSError("server sent a masked frame")
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos:pos + length])
            del buf[:pos + length]
            self._frame(b0 & 0x80, b0 & 0x40, b0 & 0x0F, payload, now)

    def _frame(self, fin: int, rsv1: int, opcode: int, payload: bytes, now: int) -> None:
        if opcode == OP_PING:
            self.sock.sendall(client_frame(OP_PONG, payload))
            return
        if opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            self.close_reason = f"close frame {code} {payload[2:].decode(errors='replace')!r}"
            self.closed = True
            return
        if opcode in (OP_TEXT, OP_BINARY):
            self._fragments = [payload]
            self._compressed = bool(rsv1)
        elif opcode == OP_CONT:
            self._fragments.append(payload)
        else:
            return  # pong
        if not fin:
            return
        text = b"".join(self._fragments)
        self._fragments = []
        if self._compressed:
            text = self._inflater.decompress(text + b"\x00\x00\xff\xff")
        if self.on_text is not None:
            self.on_text(text, now)
            return
        if CHAT_LIST_MARK in text:
            self.ready.set()  # the end of the replay that answers "view"
        stats = self.stats
        if stats is None or not stats.counting:
            return
        delivered = False
        for article in ARTICLE.finditer(text):
            body = BENCH_BODY.search(article.group(2))
            if body:
                delivered = True
                stats.receipt(self, int(body.group(1)), int(body.group(2)), now)
                if stats.ack_kinds:
                    self.ack_upto = max(self.ack_upto, int(article.group(1)))
                    if stats.ack_debounce:
                        self.ack_due = time.monotonic() + stats.ack_debounce
                        stats.pending_acks.add(self)
                    else:
                        self.send_acks()
        if not delivered:
            stats.other_frames += 1
            if ERROR_MARK in text:
                stats.error_frames += 1
                if len(stats.error_samples) < 3:
                    stats.error_samples.append(text[:300].decode(errors="replace"))

    def send_acks(self) -> None:
        """What the page sends when messages showed: {"type": "delivered"|"read", "chat", "upto"}."""
        for kind in self.stats.ack_kinds:
            self.send_json({"type": kind, "chat": self.stats.chat, "upto": self.ack_upto})
        self.ack_upto = 0

    def close(self) -> None:
        self.closed = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.sendall(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
            with contextlib.suppress(OSError):
                self.sock.close()


# ----- one run -----------------------------------------------------------------------------------

@dataclass
class RunStats:
    total: int  # messages the sender will send
    chat: int
    ack_kinds: tuple  # ("delivered",), ("read",), both or none: what member sockets answer to messages
    ack_debounce: float  # seconds without a new message before answering, as the page does; 0: every one
    pending_acks: set = field(default_factory=set)
    counting: bool = False  # True from the send window on
    other_frames: int = 0  # frames to member sockets in the window that carried no bench message
    error_frames: int = 0
    error_samples: list = field(default_factory=list)
    latencies: list = field(default_factory=list)  # ns, first receipt of each (socket, seq)
    receipts: int = 0  # every receipt, duplicates included
    first_receipts: int = 0
    duplicates: int = 0
    unknown: int = 0  # bench bodies with a seq outside the run
    last_receipt_ns: int = 0  # the newest first receipt

    def receipt(self, tab: Tab, seq: int, sent_ns: int, now: int) -> None:
        self.receipts += 1
        if seq >= self.total:
            self.unknown += 1
            return
        count = tab.counts[seq]
        if count:
            self.duplicates += 1
        else:
            self.first_receipts += 1
            self.latencies.append(now - sent_ns)
            self.last_receipt_ns = max(self.last_receipt_ns, now)
        tab.counts[seq] = min(count + 1, 255)


class Sender:
    """The sender's socket: sends at a fixed rate, and times each confirmation."""

    def __init__(self, tab: Tab, chat: int, rate: float, total: int) -> None:
        self.tab = tab
        self.chat = chat
        self.rate = rate
        self.total = total
        self.token = uuid.uuid4().hex[:12]
        self.sent_at: dict[int, int] = {}
        self.acks: list[int] = []  # ns from send to the server's confirmation
        self.failures = 0
        self.errors: list[str] = []
        self.max_lateness = 0.0  # how far behind schedule a send went (client saturation)
        self.sent = 0
        self.confirmed = 0
        self.first_send_ns = 0
        self.last_confirm_ns = 0
        tab.on_text = self.on_text

    def on_text(self, text: bytes, now: int) -> None:
        if CHAT_LIST_MARK in text:
            self.tab.ready.set()
        for match in SENT_MARK.finditer(text):
            seq = int(match.group(1))
            if seq in self.sent_at:
                self.acks.append(now - self.sent_at.pop(seq))
                self.confirmed += 1
                self.last_confirm_ns = max(self.last_confirm_ns, now)
        if FAILED_MARK in text or ERROR_MARK in text:
            self.failures += 1
            self.errors.append(text[:300].decode(errors="replace"))

    def run(self) -> None:
        start = time.monotonic()
        for seq in range(self.total):
            target = start + seq / self.rate
            delay = target - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            else:
                self.max_lateness = max(self.max_lateness, -delay)
            if self.tab.closed:
                break
            now = time.time_ns()
            self.first_send_ns = self.first_send_ns or now
            self.sent_at[seq] = now
            self.tab.send_json({"type": "send", "chat": self.chat, "body": f"bench {seq} {now}",
                                "client_id": f"bench-{self.token}-{seq}"})
            self.sent += 1


ACK_KINDS = {"none": (), "delivered": ("delivered",), "read": ("read",), "both": ("delivered", "read")}


def send_due_acks(stats: RunStats) -> None:
    """The pages' debounce timers, for all sockets at once: answer where no message came for a while."""
    while True:  # killed with the readers at the end of the run
        gevent.sleep(0.02)
        now = time.monotonic()
        for tab in [t for t in stats.pending_acks if t.ack_due <= now]:
            stats.pending_acks.discard(tab)
            if not tab.closed:
                with contextlib.suppress(OSError):
                    tab.send_acks()


def percentile(sorted_values: list, p: float):
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def run_one(members: int, workers: int, args, cpus: tuple[int | None, int | None], app_dir: Path) -> dict:
    client_cpu, server_cpu = cpus
    pg_redis = workers > 1 or args.redis
    idle = args.idle_sockets if workers == 1 else 0
    label = f"{members}×w{workers}"
    tmp = Path(tempfile.mkdtemp(prefix=f"webchat-fanout-{members}-w{workers}-"))
    result: dict = {"members": members, "workers": workers, "store": "pg+redis" if pg_redis else "sqlite",
                    "deflate": args.deflate, "tmp": str(tmp), "label": label}
    result.update(wait_for_quiet(args.max_load, args.load_wait, label))
    server = Server(members, tmp, server_cpu, app_dir, workers=workers, pg_redis=pg_redis, idle=idle, label=label)
    tabs: list[Tab] = []
    idle_tabs: list[Tab] = []
    readers = gevent.pool.Group()
    members = label  # progress and detail lines name the run
    try:
        server.prepare()
        result["database"] = server.database
        server.start()
        progress(f"[{members}] gunicorn master {server.process.pid}, workers {' '.join(map(str, server.workers))} "
                 f"(cpu {server_cpu if server_cpu is not None else 'any'}), {server.url}", done=True)
        seed = server.seed
        total = int(args.rate * args.seconds)
        stats = RunStats(total, seed["chat"], ACK_KINDS[args.ack], args.ack_debounce)

        # Log everyone in over HTTP, a few at a time.
        names = [seed["sender"], *seed["members"]]
        n_members = len(seed["members"])
        cookies: dict[str, str] = {}
        login_errors: Counter = Counter()
        pool = gevent.pool.Pool(args.concurrency)
        started = time.monotonic()

        def log_in(name: str) -> None:
            try:
                cookies[name] = login(server.port, name)
            except Exception as e:  # noqa: BLE001 - counted and reported
                login_errors[f"{type(e).__name__}: {e}"] += 1
            progress(f"[{members}] logged in {len(cookies)}/{len(names)}"
                     + (f", {sum(login_errors.values())} failed" if login_errors else ""))

        for name in names:
            pool.spawn(log_in, name)
        deadline = time.monotonic() + args.setup_timeout
        while not pool.join(timeout=0.5) and time.monotonic() < deadline:
            server.check()
        if not pool.join(timeout=0):
            pool.kill(block=True, timeout=5)
            login_errors["timed out"] += len(names) - len(cookies) - sum(login_errors.values())
        progress(f"[{members}] logged in {len(cookies)}/{len(names)} in {time.monotonic() - started:.1f} s",
                 done=True)
        result["login_errors"] = dict(login_errors)
        if seed["sender"] not in cookies:
            raise RuntimeError(f"the sender could not log in: {dict(login_errors)}")

        # The sender's socket first: it is not counted as a listener.
        sender_tab = Tab("sender", cookies[seed["sender"]], None, total)
        sender_tab.connect(server.port, args.deflate)
        sender = Sender(sender_tab, seed["chat"], args.rate, total)
        readers.spawn(sender_tab.run)
        sender_tab.send_json({"type": "view", "chat": seed["chat"], "after": seed["newest"]})
        if not sender_tab.ready.wait(30):
            raise RuntimeError(f"the sender's socket got no chat list: {sender_tab.close_reason}")
        gevent.sleep(1.0)
        rss_before = server.workers_rss_kb()
        setup_cpu0 = server.cpu()

        # One socket per member.
        connect_errors: Counter = Counter()
        connected = 0
        started = time.monotonic()

        def open_tab(name: str) -> None:
            nonlocal connected
            tab = Tab(name, cookies[name], stats, total)
            try:
                tab.connect(server.port, args.deflate)
                readers.spawn(tab.run)
                tab.send_json({"type": "view", "chat": seed["chat"], "after": seed["newest"]})
                # Shown in a visible tab, as the page says (static/connection.js): else each member
                # counts as online elsewhere and every message is a desktop notice to each of them.
                tab.send_json({"type": "view-state", "chat": seed["chat"], "visible": True})
            except Exception as e:  # noqa: BLE001 - counted and reported
                connect_errors[f"{type(e).__name__}: {e}"] += 1
                tab.close()
                return
            tabs.append(tab)
            connected += 1

        pool = gevent.pool.Pool(args.concurrency)
        deadline = time.monotonic() + args.setup_timeout
        for name in seed["members"]:
            if name in cookies:
                pool.spawn(open_tab, name)
            if time.monotonic() > deadline:
                break
        while not pool.join(timeout=0.25) and time.monotonic() < deadline:
            server.check()
            progress(f"[{members}] sockets connected {connected}/{n_members}, "
                     f"ready {sum(t.ready.is_set() for t in tabs)}"
                     + (f", {sum(connect_errors.values())} failed" if connect_errors else ""))
        pool.kill(block=True, timeout=5)
        while time.monotonic() < deadline:
            server.check()
            ready = sum(t.ready.is_set() for t in tabs)
            progress(f"[{members}] sockets connected {connected}/{n_members}, ready {ready}"
                     + (f", {sum(connect_errors.values())} failed" if connect_errors else ""))
            if all(t.ready.is_set() or t.closed for t in tabs):
                break
            gevent.sleep(0.25)
        ready_tabs = [t for t in tabs if t.ready.is_set()]
        for tab in tabs:
            if not tab.ready.is_set():
                connect_errors[f"no chat list frame ({tab.close_reason or 'still open'})"] += 1
        progress(f"[{members}] sockets connected {connected}/{n_members}, ready {len(ready_tabs)} "
                 f"in {time.monotonic() - started:.1f} s", done=True)
        result["connect_errors"] = dict(connect_errors)
        result["sockets"] = len(ready_tabs)
        result["extensions"] = sorted({t.extensions for t in [sender_tab, *tabs] if t.extensions}) or None
        if args.deflate:
            progress(f"[{members}] permessage-deflate offered; server's 101 accepted: "
                     f"{result['extensions'] or 'no extension'}", done=True)
        gevent.sleep(1.0)
        result["setup_cpu_s"] = server.cpu() - setup_cpu0
        rss_after = server.workers_rss_kb()
        where = server.socket_workers(ready_tabs)
        per_worker = Counter(where.values())
        result["sockets_per_worker"] = {str(pid): per_worker.get(pid, 0) for pid in server.workers}
        if per_worker.get(None):
            result["sockets_unmapped"] = per_worker[None]
        result["sender_worker"] = server.socket_workers([sender_tab]).get(sender_tab)
        result["rss_before_kb"], result["rss_after_kb"] = rss_before, rss_after
        result["rss_per_socket_kb"] = (rss_after - rss_before) / len(ready_tabs) if ready_tabs else None

        # The send window.
        profiler = None
        if args.profile:
            profiler = start_profiler(args, server.workers, members)
        progress(f"[{members}] sending {total} messages at {args.rate:g}/s to {len(ready_tabs)} sockets")
        stats.counting = True
        result["load_at_send"] = loadavg()
        db_cpu0, redis_cpu0 = backend_cpu(server.database), redis_cpu()
        cpu0, client0, wall0 = server.cpu(), client_cpu_seconds(), time.monotonic()
        sending = gevent.spawn(sender.run)
        if stats.ack_kinds and stats.ack_debounce:
            readers.spawn(send_due_acks, stats)
        expected = len(ready_tabs) * total
        while not sending.dead:
            server.check()
            progress(f"[{members}] sent {sender.sent}/{total}, deliveries {stats.first_receipts}/{expected}")
            gevent.sleep(0.25)
        sending.get()  # re-raise a send failure
        drain_deadline = time.monotonic() + args.drain
        expected = len(ready_tabs) * sender.sent
        while stats.first_receipts < expected and time.monotonic() < drain_deadline:
            server.check()
            progress(f"[{members}] sent {sender.sent}/{total}, draining: deliveries "
                     f"{stats.first_receipts}/{expected}")
            gevent.sleep(0.02)
        if stats.ack_kinds:
            # The answers go out after the pages' debounce; the server then stores them and publishes
            # unread counts and receipts (throttled to one a second per chat): count that work too.
            # Wait until the answers are sent, 2 s have passed, and the worker is idle again.
            settle_until = time.monotonic() + stats.ack_debounce + 2.0
            settle_deadline = time.monotonic() + args.drain
            last_cpu = server.cpu()
            while time.monotonic() < settle_deadline:
                server.check()
                gevent.sleep(0.5)
                now_cpu = server.cpu()
                busy, last_cpu = (now_cpu - last_cpu) / 0.5, now_cpu
                progress(f"[{members}] waiting for the answers ({args.ack}) to settle: "
                         f"{len(stats.pending_acks)} sockets to answer, server {100 * busy:.0f}% busy")
                if not stats.pending_acks and time.monotonic() >= settle_until and busy < 0.1:
                    break
        cpu1, client1, wall1 = server.cpu(), client_cpu_seconds(), time.monotonic()
        db_cpu1, redis_cpu1 = backend_cpu(server.database), redis_cpu()
        progress(f"[{members}] sent {sender.sent}/{total}, deliveries {stats.first_receipts}/{expected} "
                 f"in {wall1 - wall0:.1f} s", done=True)
        if profiler is not None:
            stop_profiler(profiler)

        lost = sum(1 for t in ready_tabs for seq in range(sender.sent) if not t.counts[seq])
        dropped = [t for t in ready_tabs if t.closed]
        latencies = sorted(stats.latencies)
        acks = sorted(sender.acks)
        deliveries = stats.first_receipts
        result.update({
            "sent": sender.sent, "expected": expected, "received": stats.receipts, "lost": lost,
            "duplicated": stats.duplicates, "unknown": stats.unknown, "ack": args.ack,
            "ack_debounce": args.ack_debounce,
            "other_frames": stats.other_frames, "error_frames": stats.error_frames,
            "error_samples": stats.error_samples,
            "p50_ms": _ms(percentile(latencies, 50)), "p99_ms": _ms(percentile(latencies, 99)),
            "max_ms": _ms(latencies[-1] if latencies else None),
            "ack_p50_ms": _ms(percentile(acks, 50)), "ack_p99_ms": _ms(percentile(acks, 99)),
            "unconfirmed": len(sender.sent_at), "send_failures": sender.failures, "send_errors": sender.errors[:3],
            "server_cpu_s": cpu1 - cpu0,
            "db_cpu_s": sum(v - db_cpu0.get(k, 0.0) for k, v in db_cpu1.items()) if server.database else None,
            "redis_cpu_s": redis_cpu1 - redis_cpu0 if server.database and redis_cpu0 is not None
            and redis_cpu1 is not None else None,
            "stored_per_s": (sender.confirmed / ((sender.last_confirm_ns - sender.first_send_ns) / 1e9)
                             if sender.confirmed and sender.last_confirm_ns > sender.first_send_ns else None),
            "deliveries_per_s": (deliveries / ((stats.last_receipt_ns - sender.first_send_ns) / 1e9)
                                 if deliveries and stats.last_receipt_ns > sender.first_send_ns else None),
            "cpu_us_per_delivery": (cpu1 - cpu0) * 1e6 / deliveries if deliveries else None,
            "cpu_ms_per_message": (cpu1 - cpu0) * 1e3 / sender.sent if sender.sent else None,
            "window_s": wall1 - wall0, "client_cpu_pct": 100 * (client1 - client0) / (wall1 - wall0),
            "send_max_lateness_ms": sender.max_lateness * 1e3,
            "sockets_closed_during_run": len(dropped),
            "close_reasons": dict(Counter(t.close_reason for t in dropped)),
        })
        if idle:
            idle_sockets(server, args, seed, cookies, stats, readers, idle_tabs, result)
        return result
    except Exception as e:  # noqa: BLE001 - reported in the output with what was measured so far
        result["error"] = f"{type(e).__name__}: {e}"
        progress(f"[{members}] failed: {result['error']}", done=True)
        return result
    finally:
        _cleaning.add(members)  # Ctrl+C now waits for the clean-up
        try:
            progress(f"[{members}] closing {len(tabs) + len(idle_tabs)} sockets and stopping the server")
            readers.kill(block=True, timeout=10)
            for tab in tabs + idle_tabs:
                tab.close()
            with contextlib.suppress(NameError):
                sender_tab.close()
            server.stop()
            result["log_problems"] = server.log_problems()
            result["log_errors"] = server.log_error_summary()
            progress(f"[{members}] stopped", done=True)
            if args.keep:
                print(f"[{members}] kept {tmp} (gunicorn.log, webchat.db)", file=sys.stderr)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            _cleaning.discard(members)


def idle_sockets(server: "Server", args, seed: dict, cookies: dict, stats: "RunStats", readers, idle_tabs: list,
                 result: dict) -> None:
    """After the send window: log in the idle users, open one socket each (view of no chat, the
    chat list), hold them --idle-hold s (the server pings every 25 s), and see which stayed open."""
    label = result["label"]
    names = seed.get("idle") or []
    errors: Counter = Counter()
    pool = gevent.pool.Pool(args.concurrency)
    started = time.monotonic()

    def log_in(name: str) -> None:
        try:
            cookies[name] = login(server.port, name)
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors[f"login: {type(e).__name__}: {e}"] += 1
        progress(f"[{label}] idle users logged in {sum(n in cookies for n in names)}/{len(names)}")

    for name in names:
        pool.spawn(log_in, name)
    deadline = time.monotonic() + args.setup_timeout
    while not pool.join(timeout=0.5) and time.monotonic() < deadline:
        server.check()
    pool.kill(block=True, timeout=5)
    result["idle_login_s"] = time.monotonic() - started
    progress(f"[{label}] idle users logged in {sum(n in cookies for n in names)}/{len(names)} "
             f"in {result['idle_login_s']:.1f} s", done=True)
    gevent.sleep(1.0)
    rss_before = server.workers_rss_kb()
    cpu_before = server.cpu()
    started = time.monotonic()

    def open_idle(name: str) -> None:
        tab = Tab(name, cookies[name], None, 0)
        try:
            tab.connect(server.port, args.deflate)
            readers.spawn(tab.run)
            tab.send_json({"type": "view", "chat": None, "after": 0})
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors[f"socket: {type(e).__name__}: {e}"] += 1
            tab.close()
            return
        idle_tabs.append(tab)

    pool = gevent.pool.Pool(args.concurrency)
    deadline = time.monotonic() + args.setup_timeout
    for name in names:
        if name in cookies:
            pool.spawn(open_idle, name)
        if time.monotonic() > deadline:
            break
    while not pool.join(timeout=0.5) and time.monotonic() < deadline:
        server.check()
        progress(f"[{label}] idle sockets open {len(idle_tabs)}/{len(names)}, "
                 f"ready {sum(t.ready.is_set() for t in idle_tabs)}"
                 + (f", {sum(errors.values())} failed" if errors else ""))
    pool.kill(block=True, timeout=5)
    while time.monotonic() < deadline and not all(t.ready.is_set() or t.closed for t in idle_tabs):
        server.check()
        gevent.sleep(0.25)
    ready = [t for t in idle_tabs if t.ready.is_set()]
    result["idle_open_s"] = time.monotonic() - started
    progress(f"[{label}] idle sockets ready {len(ready)}/{len(names)} in {result['idle_open_s']:.1f} s", done=True)
    gevent.sleep(2.0)
    rss_after = server.workers_rss_kb()
    result["idle_open_cpu_s"] = server.cpu() - cpu_before
    hold_cpu0, hold_wall0 = server.cpu(), time.monotonic()
    hold_until = hold_wall0 + args.idle_hold
    while time.monotonic() < hold_until:
        server.check()
        progress(f"[{label}] holding {len(ready)} idle sockets: {hold_until - time.monotonic():.0f} s left, "
                 f"{sum(t.closed for t in ready)} closed")
        gevent.sleep(1.0)
    rss_held = server.workers_rss_kb()
    result["idle_hold_cpu_pct"] = 100 * (server.cpu() - hold_cpu0) / (time.monotonic() - hold_wall0)
    where = server.socket_workers(ready)
    still_open = [t for t in ready if not t.closed and where.get(t) is not None]
    progress(f"[{label}] after {args.idle_hold:g} s: {len(still_open)}/{len(ready)} idle sockets open at both ends",
             done=True)
    result.update({
        "idle_wanted": len(names), "idle_ready": len(ready), "idle_open_after_hold": len(still_open),
        "idle_hold_s": args.idle_hold, "setup_timeout_s": args.setup_timeout,
        "idle_rss_before_kb": rss_before, "idle_rss_after_kb": rss_after,
        "idle_rss_held_kb": rss_held, "idle_rss_held_mb": rss_held / 1024,
        "idle_rss_per_socket_kb": (rss_after - rss_before) / len(ready) if ready else None,
        "idle_errors": dict(errors),
        "idle_close_reasons": dict(Counter(t.close_reason for t in ready if t.closed)),
        "idle_not_ready": sum(1 for t in idle_tabs if not t.ready.is_set()),
        # still waiting for a handshake, or never started, when --setup-timeout ran out
        "idle_not_attempted": len(names) - len(idle_tabs)
        - sum(count for reason, count in errors.items() if reason.startswith("socket:")),
        "idle_server_fds": len(os.listdir(f"/proc/{server.workers[0]}/fd")),
    })


def args_timeout(result: dict) -> str:
    return f"{result['setup_timeout_s']:g} s" if result.get("setup_timeout_s") else "?"


def _ms(ns):
    return None if ns is None else ns / 1e6


# ----- optional profiling with py-spy ------------------------------------------------------------

def start_profiler(args, pids: list[int], members: int):
    """py-spy on every worker (one file each, named by its place in pid order): with several
    workers, what each does per publication shows only beside the others'."""
    spy = shutil.which("py-spy") or (str(BIN / "py-spy") if (BIN / "py-spy").exists() else None)
    if spy is None:
        print("--profile: py-spy is not installed (pip install py-spy into the venv)", file=sys.stderr)
        return None
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    duration = int(args.seconds + 1)
    spies = []
    for index, pid in enumerate(pids):
        out = out_dir / (f"fanout-{members}{'-deflate' if args.deflate else ''}"
                         + (f"-worker{index}" if len(pids) > 1 else "") + ".txt")
        process = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(duration), "--rate", "250",
                                    "--format", "raw", "--nonblocking", "--output", str(out)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        spies.append((process, out))
    gevent.sleep(0.5)  # let them attach
    return spies


def stop_profiler(profiler) -> None:
    for process, out in profiler:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(5)
        print(f"py-spy collapsed stacks: {out}", file=sys.stderr)


# ----- output ------------------------------------------------------------------------------------

COLUMNS = [
    ("members", "members", "{}"), ("workers", "workers", "{}"), ("store", "store", "{}"),
    ("sockets", "sockets", "{}"), ("sockets/worker", "sockets_per_worker", "{}"), ("deflate", "deflate", "{}"),
    ("ext", "extensions", "{}"), ("sent", "sent", "{}"), ("expected", "expected", "{}"),
    ("received", "received", "{}"), ("lost", "lost", "{}"), ("dup", "duplicated", "{}"),
    ("msgs/s stored", "stored_per_s", "{:.1f}"), ("deliveries/s", "deliveries_per_s", "{:.0f}"),
    ("p50 ms", "p50_ms", "{:.1f}"), ("p99 ms", "p99_ms", "{:.1f}"), ("max ms", "max_ms", "{:.1f}"),
    ("confirm p50 ms", "ack_p50_ms", "{:.1f}"), ("cpu µs/deliv", "cpu_us_per_delivery", "{:.1f}"),
    ("cpu ms/msg", "cpu_ms_per_message", "{:.2f}"), ("rss KB/sock", "rss_per_socket_kb", "{:.1f}"),
    ("client cpu %", "client_cpu_pct", "{:.0f}"), ("load", "load_start", "{:.2f}"),
]

IDLE_COLUMNS = [
    ("members", "members", "{}"), ("workers", "workers", "{}"), ("store", "store", "{}"),
    ("idle wanted", "idle_wanted", "{}"), ("idle ready", "idle_ready", "{}"),
    ("open after hold", "idle_open_after_hold", "{}"), ("hold s", "idle_hold_s", "{:g}"),
    ("open s", "idle_open_s", "{:.1f}"), ("rss KB/idle sock", "idle_rss_per_socket_kb", "{:.1f}"),
    ("worker rss MB", "idle_rss_held_mb", "{:.0f}"), ("worker fds", "idle_server_fds", "{}"),
    ("server cpu % holding", "idle_hold_cpu_pct", "{:.0f}"),
]


def fmt(template: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, dict):  # sockets per worker, in pid order
        return "/".join(str(v) for v in value.values())
    return template.format(value)


def print_table(results: list[dict], columns: list = COLUMNS) -> None:
    rows = [[title for title, _, _ in columns]]
    rows += [[fmt(template, r.get(key)) for _, key, template in columns] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for n, row in enumerate(rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))


def print_details(result: dict) -> None:
    n = result.get("label", result["members"])
    print(f"\n[{n}] load average {result.get('load_start'):.2f} at the start"
          + (f" (after waiting {result['load_waited_s']} s)" if result.get("load_waited_s") else "")
          + ("" if result.get("load_quiet") else ", NOT below --max-load: measured anyway")
          + f", {fmt('{:.2f}', result.get('load_at_send'))} when sending began (includes this run's setup)"
          + (f"; database {result['database']} (dropped)" if result.get("database") else ""))
    print(f"[{n}] server workers' RSS {result.get('rss_before_kb')} KB before the sockets, "
          f"{result.get('rss_after_kb')} KB with them open (opening them took "
          f"{fmt('{:.2f}', result.get('setup_cpu_s'))} s of server CPU)")
    if result.get("sockets_per_worker"):
        print(f"[{n}] member sockets per worker pid: "
              + ", ".join(f"{pid}: {count}" for pid, count in result["sockets_per_worker"].items())
              + f"; the sender's socket is on {result.get('sender_worker')}"
              + (f"; not found in any worker: {result['sockets_unmapped']}" if result.get("sockets_unmapped") else ""))
    if "server_cpu_s" in result:
        print(f"[{n}] server CPU (master + workers) {result['server_cpu_s']:.2f} s over the {result['window_s']:.1f} s "
              f"window; sender's confirmation p99 {fmt('{:.1f}', result.get('ack_p99_ms'))} ms; "
              f"sends behind schedule by up to {fmt('{:.0f}', result.get('send_max_lateness_ms'))} ms")
    if result.get("db_cpu_s") is not None:
        print(f"[{n}] not in cpu µs/deliv: PostgreSQL backends of this database {result['db_cpu_s']:.2f} s, "
              f"redis-server {fmt('{:.2f}', result.get('redis_cpu_s'))} s (shared with anything else using it)")
    if result.get("idle_wanted"):
        print(f"[{n}] idle sockets: {result['idle_ready']}/{result['idle_wanted']} ready in "
              f"{result['idle_open_s']:.1f} s ({result['idle_login_s']:.1f} s of logins before; opening took "
              f"{result['idle_open_cpu_s']:.2f} s of server CPU); worker RSS {result['idle_rss_before_kb']} KB -> "
              f"{result['idle_rss_after_kb']} KB, {result['idle_rss_held_kb']} KB after {result['idle_hold_s']:g} s; "
              f"{result['idle_open_after_hold']} open at both ends after the hold; "
              f"worker fds {result['idle_server_fds']}")
        for key, label in (("idle_errors", "idle failures"), ("idle_close_reasons", "idle sockets closed")):
            for reason, count in (result.get(key) or {}).items():
                print(f"    {label}: {count} × {reason}")
        if result.get("idle_not_ready"):
            print(f"    idle sockets without their chat list: {result['idle_not_ready']}")
        if result.get("idle_not_attempted"):
            print(f"    idle sockets not opened when --setup-timeout ({args_timeout(result)}) ran out: "
                  f"{result['idle_not_attempted']}")
    for key, label in (("login_errors", "login failures"), ("connect_errors", "socket failures"),
                       ("close_reasons", "sockets closed during the run")):
        if result.get(key):
            print(f"[{n}] {label}:")
            for reason, count in result[key].items():
                print(f"    {count} × {reason}")
    if result.get("unconfirmed") or result.get("send_failures"):
        print(f"[{n}] sends unconfirmed: {result.get('unconfirmed')}, refused: {result.get('send_failures')}")
        for text in result.get("send_errors") or []:
            print(f"    {text}")
    if result.get("other_frames"):
        print(f"[{n}] other frames to member sockets during the window (not messages): {result['other_frames']}, "
              f"of them error frames: {result.get('error_frames')}")
        for text in result.get("error_samples") or []:
            print(f"    {text}")
    if result.get("unknown"):
        print(f"[{n}] receipts of unknown messages: {result['unknown']}")
    problems = result.get("log_problems") or []
    if result.get("log_errors"):
        print(f"[{n}] exceptions and warnings in the server log (counted):")
        for line, count in result["log_errors"].items():
            print(f"    {count} × {line}")
    print(f"[{n}] server log: " + ("no errors" if not problems else f"{len(problems)} problem lines (first ones):"))
    for line in problems:
        print(f"    {line}")


# ----- main --------------------------------------------------------------------------------------

_cleaning: set = set()


def _interrupt(signum, frame) -> None:
    if not _cleaning:
        raise KeyboardInterrupt


def pick_cpus(pin: bool) -> tuple[int | None, int | None]:
    """(client cpu, server cpu): two different cores when there are two, else no pinning."""
    if not pin:
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        print(f"only {len(available)} cpu available: not pinning", file=sys.stderr)
        return None, None
    return available[0], available[1]


def snapshot_app(source: Path, dest: Path) -> str:
    """Copy the app's files, so edits made while the benchmark runs don't reach its servers; describe them."""
    missing = [part for part in APP_PARTS if not (source / part).exists()]
    if missing:
        raise SystemExit(f"{source} is not a webchat checkout (missing {', '.join(missing)})")
    for part in APP_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source / part, dest / part)
    git = ["git", "-C", str(source)]
    top = subprocess.run([*git, "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode or Path(top.stdout.strip()).resolve() != source:
        return f"{source} (not a git checkout)"
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    changed = subprocess.run([*git, "status", "--porcelain", "--", *APP_PARTS], capture_output=True, text=True)
    n = len(changed.stdout.splitlines())
    return f"{head.stdout.strip()}" + (f" + {n} uncommitted changes" if n else "") + f" ({source})"


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        print(f"warning: RLIMIT_NOFILE is {soft} (hard {hard}); {needed} wanted", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="WebSocket fan-out benchmark for webchat (see bench/README.md).")
    parser.add_argument("--members", type=int, nargs="+", default=[100, 1000], help="listening sockets per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="gunicorn workers per run (one run per members × workers); W > 1 uses PostgreSQL + Redis")
    parser.add_argument("--redis", action="store_true",
                        help="use PostgreSQL + Redis with -w 1 too (like with like against more workers)")
    parser.add_argument("--idle-sockets", type=int, default=0, metavar="K",
                        help="after the send window of each -w 1 run, open K more authenticated idle sockets")
    parser.add_argument("--idle-hold", type=float, default=30.0, metavar="SECONDS",
                        help="hold the idle sockets this long before checking they are still open")
    parser.add_argument("--max-load", type=float, default=1.0, help="wait before each run until the 1-minute "
                        "load average is below this")
    parser.add_argument("--load-wait", type=float, default=600.0, metavar="SECONDS",
                        help="wait at most this long in all (all runs together) for --max-load, then measure "
                             "anyway (0: don't wait)")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second from the sender")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the send window")
    parser.add_argument("--deflate", action="store_true",
                        help="offer permessage-deflate in every handshake, as browsers do")
    parser.add_argument("--ack", choices=list(ACK_KINDS), default="none",
                        help='member sockets answer messages with {"type": "delivered"/"read", "chat", "upto"}')
    parser.add_argument("--ack-debounce", type=float, default=0.4, metavar="SECONDS",
                        help="answer once no message came for this long (the page: 0.4 s delivered, 0.3 s read); "
                             "0: answer every message at once")
    parser.add_argument("--drain", type=float, default=30.0, help="max seconds to wait for deliveries after sending")
    parser.add_argument("--concurrency", type=int, default=50, help="logins and handshakes in flight at once")
    parser.add_argument("--setup-timeout", type=float, default=300.0, help="max seconds for logins, and for sockets")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin client and server to cores")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the worker during the send window (raw stacks)")
    parser.add_argument("--app-dir", default=str(ROOT), help="the webchat checkout to serve (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep each run's temp dir (database, gunicorn.log)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or min(args.members) < 1 or min(args.workers) < 1:
        parser.error("--rate, --seconds, --members and --workers must be positive")
    if args.idle_sockets < 0:
        parser.error("--idle-sockets must not be negative")

    # The server inherits the limit: it needs as many descriptors as the client, and a few more.
    raise_fd_limit(max(args.members) * 2 + args.idle_sockets * 2 + 1024)
    client_cpu, server_cpu = pick_cpus(args.pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    print(f"load client pid {os.getpid()} on cpu {client_cpu if client_cpu is not None else 'any'}; "
          f"server on cpu {server_cpu if server_cpu is not None else 'any'}; "
          f"{args.rate:g} msg/s for {args.seconds:g} s{'; offering permessage-deflate' if args.deflate else ''}",
          file=sys.stderr)

    # Ctrl+C and SIGTERM end the run; the finally blocks stop the sockets and the server. Installed
    # explicitly: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)

    results = []
    snapshot = Path(tempfile.mkdtemp(prefix="webchat-fanout-app-"))
    try:
        app_version = snapshot_app(Path(args.app_dir).resolve(), snapshot)
        print(f"app: {app_version}", file=sys.stderr)
        for members in args.members:
            for workers in args.workers:
                results.append(run_one(members, workers, args, (client_cpu, server_cpu), snapshot))
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        if not results:
            return 130
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    acks = f"; members answer with {args.ack} after {args.ack_debounce:g} s quiet" if args.ack != "none" else ""
    loads = [r["load_start"] for r in results if r.get("load_start") is not None]
    print(f"\nwebchat fan-out: {args.rate:g} msg/s for {args.seconds:g} s, gunicorn -k gevent -w <workers>, "
          f"store per row; app {app_version}{acks}; 1-minute load average at the start of each run: "
          + (", ".join(f"{x:.2f}" for x in loads) or "-"))
    print_table(results)
    if any(r.get("idle_wanted") for r in results):
        print("\nidle sockets (opened after the send window, on the -w 1 server):")
        print_table([r for r in results if r.get("idle_wanted")], IDLE_COLUMNS)
    for result in results:
        print_details(result)
    failed = [r for r in results if r.get("error")]
    for result in failed:
        print(f"[{result.get('label', result['members'])}] FAILED: {result['error']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if failed and len(failed) == len(results) else 0


if __name__ == "__main__":
    sys.exit(main())
