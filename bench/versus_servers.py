"""The three servers bench/versus.py compares: the Node/Socket.io peer, the Flask-SocketIO peer and webchat.

Each is started fresh for one run, pinned to the server core, and gives the load client what it
needs: the port, the socket path, one credential (session cookie, or "" for the peers) per socket,
and the server's CPU seconds and resident memory from /proc. webchat is bench/fanout.py's Server
(seeded SQLite database, gunicorn -k gevent -w 1); the peers run from bench/peers/.
"""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fanout
import gevent
import gevent.pool

BENCH = Path(__file__).resolve().parent
NODE_DIR = BENCH / "peers" / "node"
FLASK_DIR = BENCH / "peers" / "flask_socketio"
PEERS_VENV = BENCH / ".venv-peers"
SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"


def ensure_node_peer() -> None:
    """`npm ci` into bench/peers/node/node_modules when it is missing or older than the lockfile."""
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= (NODE_DIR / "package-lock.json").stat().st_mtime:
        return
    fanout.progress("[setup] npm ci in bench/peers/node", done=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, stdout=subprocess.DEVNULL)


def ensure_flask_peer() -> None:
    """The Flask-SocketIO peer's own virtualenv (bench/.venv-peers), never the project's."""
    python = PEERS_VENV / "bin" / "python"
    if python.exists():
        return
    fanout.progress(f"[setup] creating {PEERS_VENV} (flask-socketio, gevent, gevent-websocket from PyPI)", done=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(FLASK_DIR / "requirements.txt")], check=True)


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        children = [c for p in frontier for c in fanout.children_of(p)]
        found += children
        frontier = children
    return found


class PeerServer:
    """A Socket.IO peer: one process (Node, or Python under gevent), its CPU and RSS from /proc."""

    kind = "socketio"
    path = SOCKETIO_PATH
    chat = None

    def __init__(self, name: str, server_cpu: int | None, accept_deflate: bool = False) -> None:
        self.name = name
        self.accept_deflate = accept_deflate  # Node only: perMessageDeflate on (its default is off)
        self.server_cpu = server_cpu
        self.port = fanout.free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"versus-{name}-"))
        self.log_path = self.tmp / "server.log"
        self.process: subprocess.Popen | None = None
        if name == "node":
            self.command, self.cwd = ["node", "server.js", str(self.port)], NODE_DIR
        else:
            self.command, self.cwd = [str(PEERS_VENV / "bin" / "python"), "server.py", str(self.port)], FLASK_DIR

    def prepare(self, members: int) -> None:
        """Nothing to seed: the peers have no users."""

    def start(self) -> None:
        command = self.command
        if self.server_cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(self.server_cpu), *command]
        self.log = open(self.log_path, "a")  # noqa: SIM115 - the server writes to it until stop()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PEER_DEFLATE"] = "1" if self.accept_deflate else "0"
        self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((fanout.HOST, self.port), timeout=1):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{self.name} did not listen on {self.port} within 30 s")

    @property
    def pids(self) -> list[int]:
        return [self.process.pid, *descendants(self.process.pid)]

    def cpu(self) -> float:
        return sum(fanout.cpu_seconds(pid) for pid in self.pids)

    def rss_kb(self) -> int:
        return sum(fanout.rss_kb(pid) for pid in self.pids)

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}: "
                               f"{self.log_path.read_text()[-1000:]}")

    def credentials(self, n: int, concurrency: int, timeout: float) -> list[str]:
        return [""] * n

    def senders(self, n: int, concurrency: int, timeout: float) -> list[str]:
        return [""] * n

    def describe(self) -> str:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        return lines[0] if lines else self.name

    def stop(self) -> None:
        fanout.stop_process_group(self.process, 10)
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class WebchatServer:
    """webchat under gunicorn -k gevent -w 1 on a fresh SQLite database (bench/fanout.py's Server).

    Members are seeded into one group chat; listeners and idle sockets log in as member00000...,
    closed-loop senders as further members (so they are in the chat), a single sender as bench-sender.
    """

    kind = "webchat"
    name = "webchat"
    path = "/socket"

    def __init__(self, server_cpu: int | None, app_dir: Path) -> None:
        self.server_cpu = server_cpu
        self.app_dir = app_dir
        self.tmp = Path(tempfile.mkdtemp(prefix="versus-webchat-"))
        self.server: fanout.Server | None = None
        self._used = 0  # members handed out so far

    def prepare(self, members: int) -> None:
        self.server = fanout.Server(members, self.tmp, self.server_cpu, self.app_dir, label="webchat")
        self.port = self.server.port
        self.server.prepare()
        self.chat = self.server.seed["chat"]
        self.newest = self.server.seed["newest"]

    def start(self) -> None:
        self.server.start()

    def cpu(self) -> float:
        return self.server.cpu()

    def rss_kb(self) -> int:
        return sum(fanout.rss_kb(pid) for pid in self.server.pids)

    def check(self) -> None:
        self.server.check()

    def _log_in(self, names: list[str], concurrency: int, timeout: float) -> list[str]:
        cookies: dict[str, str] = {}
        errors: list[str] = []
        pool = gevent.pool.Pool(concurrency)

        def log_in(name: str) -> None:
            try:
                cookies[name] = fanout.login(self.port, name)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(e).__name__}: {e}")

        for name in names:
            pool.spawn(log_in, name)
        if not pool.join(timeout=timeout):
            pool.kill(block=True, timeout=5)
        if errors or len(cookies) < len(names):
            fanout.progress(f"[webchat] {len(cookies)}/{len(names)} logged in; first failure: "
                            f"{errors[0] if errors else 'timed out'}", done=True)
        return [cookies[name] for name in names if name in cookies]

    def credentials(self, n: int, concurrency: int, timeout: float) -> list[str]:
        """Session cookies of the next n members (listeners or closed-loop senders)."""
        names = self.server.seed["members"][self._used:self._used + n]
        self._used += n
        return self._log_in(names, concurrency, timeout)

    def senders(self, n: int, concurrency: int, timeout: float) -> list[str]:
        if n == 1:
            return self._log_in([self.server.seed["sender"]], concurrency, timeout)
        return self.credentials(n, concurrency, timeout)

    def describe(self) -> str:
        return "webchat gunicorn -k gevent -w 1 (SQLite)"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            problems = self.server.log_problems(limit=5)
            if problems:
                fanout.progress("[webchat] server log problems: " + " | ".join(problems), done=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_server(name: str, server_cpu: int | None, app_dir: Path, node_deflate: bool = False):
    if name == "webchat":
        return WebchatServer(server_cpu, app_dir)
    return PeerServer(name, server_cpu, accept_deflate=node_deflate and name == "node")
