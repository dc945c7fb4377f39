#!/usr/bin/env python3
"""Set up and run webchat, or its test suite, from a fresh clone with nothing but Python 3.11+.

    python3 dev.py run            virtualenv, install, migrate, demo data, serve on http://127.0.0.1:8000
    python3 dev.py test           virtualenv, install with test extras, Chromium if missing, pytest
    python3 dev.py test --fast    only the in-process tests: no server, browser or Redis

Both are safe to run again: installs are skipped when pyproject.toml is unchanged, migrations
only apply what is new, and demo data is created once.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
CHROMIUM = "/usr/bin/chromium"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def ensure_environment(extras: str | None) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on the system Python, before any venv
        sys.exit(f"webchat needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        step("Creating the virtualenv in .venv")
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / f".installed-{extras or 'app'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    step(f"Installing webchat{' with ' + extras + ' extras' if extras else ''} (first run takes a minute)")
    subprocess.run([BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([BIN / "python", "-m", "pip", "install", "--quiet", "-e", target], cwd=ROOT, check=True)
    stamp.write_text(digest)


def flask(*args: str) -> None:
    subprocess.run([BIN / "flask", "--app", "wsgi", *args], cwd=ROOT, check=True)


def run() -> None:
    ensure_environment(None)
    step("Applying database migrations")
    flask("db", "upgrade")
    flask("seed-demo")
    bind = os.environ.get("WEBCHAT_BIND", "127.0.0.1:8000")
    step(f"Serving webchat on http://{bind} (Ctrl+C stops it)")
    os.chdir(ROOT)
    os.execv(BIN / "gunicorn", [
        "gunicorn", "-k", "gevent", "-w", os.environ.get("WEB_CONCURRENCY", "1"),
        "--worker-connections", "10000", "--graceful-timeout", "10", "--no-control-socket",
        "--access-logfile", "-", "-b", bind, "wsgi:app",
    ])


def ensure_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        step("Installing Debian's Chromium for the browser tests (apt-get)")
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True)
    else:
        print(f"note: {CHROMIUM} is missing, so the browser tests will be skipped. "
              "Install it with: sudo apt-get install -y chromium", flush=True)


def test(args: list[str]) -> None:
    fast = "--fast" in args
    args = [arg for arg in args if arg != "--fast"]
    ensure_environment("test")
    if fast:
        # The tests marked neither `server` nor `slow` (tests/conftest.py marks them); one that
        # starts gunicorn, Chromium or Redis anyway fails (tests/support/services.py).
        os.environ["WEBCHAT_TESTS_WITHOUT_SERVERS"] = "1"
        step(f"Running the fast tests on {os.environ.get('WEBCHAT_TEST_DATABASE_URL', 'SQLite').split('@')[-1]}")
        os.chdir(ROOT)
        args = ["-m", "not server and not slow", *(args or ["-n", "2", "--durations=5"])]
        os.execv(BIN / "python", [str(BIN / "python"), "-m", "pytest", *args])
    ensure_chromium()
    database = os.environ.get("WEBCHAT_TEST_DATABASE_URL", "SQLite")
    step(f"Running the test suite on {database.split('@')[-1]}")
    os.chdir(ROOT)
    if not args:
        # The whole suite in two processes, a test file per process at a time: most of a run is
        # waiting on servers, sockets and browsers, which two overlap well even on two cores.
        # The files go out in the order tests/conftest.py sorts them (slowest first), not xdist's.
        # (Arguments, e.g. one test file, run in this process alone, as given.) The slowest tests
        # are listed at the end, to keep the whole run (twice in CI) within its time.
        args = ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder", "--durations=25"]
    # argv[0] must be the venv's path: Python finds its prefix (and so the venv) from it.
    os.execv(BIN / "python", [str(BIN / "python"), "-m", "pytest", *args])


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        run()
    elif command == "test":
        test(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
