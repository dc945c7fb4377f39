"""gunicorn -k gevent serving a given checkout of webchat (its own .venv), with the shipped
defaults but for registration and sending, raised so a benchmark can set up quickly.

Used by abuse_views.py, changes_catchup.py and image_bomb.py, which take --checkout to measure an older commit
(a worktree with its own `python3 dev.py test --collect-only` run, for its .venv) with the same
client as this one.
"""
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.services import free_port

HERE = Path(__file__).resolve().parent.parent


class CheckoutServer:
    def __init__(self, checkout: Path, tmp: Path, extra_env: dict | None = None, gunicorn_args=()) -> None:
        self.checkout = Path(checkout).resolve()
        self.bin = self.checkout / ".venv" / "bin"
        if not (self.bin / "gunicorn").exists():
            raise SystemExit(f"{self.checkout} has no .venv: run `python3 dev.py test --collect-only -q` there first")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = tmp / f"bench-{self.port}.db"
        self.log_path = tmp / f"gunicorn-{self.port}.log"
        self.env = {**os.environ, "DATABASE_URL": f"sqlite:///{self.database}",
                    "WEBCHAT_INSTANCE_PATH": str(tmp / f"instance-{self.port}"), "SECRET_KEY": "bench-secret",
                    "WEBCHAT_REGISTER_LIMIT": "10000 per hour", "WEBCHAT_SEND_LIMIT": "1000000 per minute",
                    **(extra_env or {})}
        self.env.pop("REDIS_URL", None)
        self.gunicorn_args = list(gunicorn_args)
        self.process = None

    def __enter__(self) -> "CheckoutServer":
        subprocess.run([str(self.bin / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=self.checkout, env=self.env,
                       check=True, capture_output=True)
        self.log = open(self.log_path, "a")  # noqa: SIM115 - open while gunicorn writes to it
        self.process = subprocess.Popen(
            [str(self.bin / "gunicorn"), "-k", "gevent", "-w", "1", "--no-control-socket", "--graceful-timeout", "2",
             "--worker-connections", "2000", *self.gunicorn_args, "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=self.checkout, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("gunicorn did not start within 120 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def commit(self) -> str:
        return subprocess.run(["git", "-C", str(self.checkout), "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True).stdout.strip()[:72]


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * (len(ordered) - 1) + 0.5))]
