"""Real services for tests: a throwaway PostgreSQL database, a gunicorn server, Debian's Chromium.

A service that is not there skips its tests on a developer's machine and fails them in CI
(where CI is set): CI must never go green by skipping.
"""
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def no_servers_here(what: str) -> None:
    """`dev.py test --fast` promises a run without servers: fail a test that starts one there."""
    if os.environ.get("WEBCHAT_TESTS_WITHOUT_SERVERS"):
        pytest.fail(f"{what} in a run without servers: mark the test `server` (tests/conftest.py)")


def unavailable(reason: str):
    """Skip on a developer's machine; fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@contextlib.contextmanager
def postgres_database(base_url: str, purpose: str):
    """Create a fresh database next to base_url's, yield its URL, drop it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"webchat_{purpose}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - any connection failure means "not reachable"
        admin.dispose()
        unavailable(f"PostgreSQL at {url.render_as_string(hide_password=True)} is not reachable: {e}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


OFFSET_TABLES = ("users", "chats", "memberships", "messages")


@contextlib.contextmanager
def migrated_postgres_database(base_url: str, purpose: str):
    """A fresh PostgreSQL database with the schema (the real migrations), its ids starting at a
    random offset: Redis keeps who is online and each chat's channel by id, and the machine's Redis
    is shared with other runs, whose users and chats must not look like ours."""
    import random

    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text

    from webchat import create_app
    from webchat.extensions import db

    with postgres_database(base_url, purpose) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "REDIS_URL": None})
        with app.app_context():
            upgrade()
            db.engine.dispose()
        start = random.randrange(1, 2000) * 1_000_000  # well inside a 32-bit id
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                for table in OFFSET_TABLES:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :n)"), {"n": start})
        finally:
            engine.dispose()
        yield url


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so no server outlives an aborted run."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """gunicorn -k gevent serving the app on a free port, after `flask db upgrade`."""

    def __init__(self, database_url: str, tmp: Path, workers: int = 1, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance = tmp / f"instance-{self.port}"
        self.log_path = tmp / f"gunicorn-{self.port}.log"
        self.workers = workers
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "WEBCHAT_INSTANCE_PATH": str(self.instance),
            "SECRET_KEY": "live-test-secret",
            "WEBCHAT_REGISTER_LIMIT": "10000 per hour",
            "WEBCHAT_LOGIN_FAILURE_LIMIT": "1000 per minute",
            # Tests and benchmarks send fast from one user; tests/test_throttling.py runs the real limits.
            "WEBCHAT_SEND_LIMIT": "1000000 per minute",
            "WEBCHAT_REACTION_LIMIT": "1000000 per minute",
            "WEBCHAT_CHAT_CREATE_LIMIT": "1000000 per minute",
            "WEBCHAT_MEMBER_ADD_LIMIT": "1000000 per minute",
            "WEBCHAT_PUT_INTO_CHATS_LIMIT": "1000000 per minute",
            "WEBCHAT_USERNAME_LOOKUP_LIMIT": "1000000 per minute",
            "WEBCHAT_SOCKET_FRAMES_PER_SECOND": "0",
            "WEBCHAT_WORK_PER_SECOND": "0",  # tests/test_throttling.py runs the shipped budget
            "WEBCHAT_POLL_INTERVAL": "1",
            "WEBCHAT_REGISTRATION": "open",  # tests register whom they need (test_workspace.py: the modes)
            # and put them only into the chats they make (tests/test_channels.py: #general).
            "WEBCHAT_DEFAULT_CHANNEL": "",
            # Every notification at once: tests of folding set their own window (test_notifications.py).
            "WEBCHAT_NOTIFY_FOLD_SECONDS": "0",
            # Each message decided as soon as it is stored, as the state was then: a test's next
            # step (a tab opening) must not change who a message sent before it notifies.
            "WEBCHAT_NOTIFIER_GATHER_SECONDS": "0",
            **(extra_env or {}),
        }
        self.process = None

    def __enter__(self):
        no_servers_here("gunicorn started")
        bin_dir = Path(sys.executable).parent
        subprocess.run([str(bin_dir / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)
        self.start()
        return self

    def start(self):
        bin_dir = Path(sys.executable).parent
        self.log = open(self.log_path, "a")  # noqa: SIM115 - stays open while gunicorn writes to it
        self.process = subprocess.Popen(
            [str(bin_dir / "gunicorn"), "-k", "gevent", "-w", str(self.workers), "--no-control-socket",
             "--graceful-timeout", "2", "--worker-connections", "2000", "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
        # Seconds, not minutes, on an idle machine; the margin is for a CI machine busy with the
        # other database's run and its browsers, where four workers each import the app.
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()  # __exit__ never runs for a server that did not start: don't leave it running
        raise RuntimeError(f"gunicorn did not start within {START_TIMEOUT} s")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()

    def restart(self):
        self.stop()
        self.start()

    def __exit__(self, *exc):
        self.stop()


# Pages of this server poll every 2 s while the socket is down and every 120 s while it is up:
# anything that arrives within a test came over the socket (or by catch-up after reconnect).
SOCKET_FIRST_ENV = {"WEBCHAT_POLL_INTERVAL": "2", "WEBCHAT_POLL_INTERVAL_LIVE": "120"}


@contextlib.contextmanager
def module_server(purpose: str, tmp: Path, extra_env: dict | None = None):
    """A LiveServer of a test module's own, on a fresh SQLite file or PostgreSQL database."""
    base = os.environ.get("WEBCHAT_TEST_DATABASE_URL")
    env = {**SOCKET_FIRST_ENV, **(extra_env or {})}
    if base:
        with postgres_database(base, purpose) as url, LiveServer(url, tmp, extra_env=env) as live:
            yield live
    else:
        with LiveServer(f"sqlite:///{tmp / f'{purpose}-{uuid.uuid4().hex[:6]}.db'}", tmp, extra_env=env) as live:
            yield live


@contextlib.contextmanager
def chromium_browser():
    no_servers_here("Chromium started")
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def redis_reachable(url: str) -> str | None:
    """None when Redis at url answers PING, else why not."""
    no_servers_here("Redis asked for")
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return None
    except redis.RedisError as e:
        return f"{type(e).__name__}: {e}"
    finally:
        client.close()


class PrivateRedis:
    """A redis-server of the test's own on a free port of 127.0.0.1, to kill and start again.

    Never the machine's shared Redis: this one holds nothing (no RDB, no AOF) and dies with the test.
    """

    def __init__(self, tmp: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tmp / f"redis-{self.port}"
        self.log_path = tmp / f"redis-{self.port}.log"
        self.process = None

    def __enter__(self):
        if not self.binary:
            unavailable("redis-server is not installed (apt-get install -y redis-server)")
        self.start()
        return self

    def start(self, timeout: float = 10) -> None:
        no_servers_here("redis-server started")
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text()[-2000:]}")
            if redis_reachable(self.url) is None:
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: the server vanishes at once, as after a crash; the kernel closes its connections."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def __exit__(self, *exc):
        self.kill()
