"""Runs fast_reader.c, the load client's reader of the listening sockets (see that file for why).

The Python client opens and readies every socket as before; for the measurement (fan-out and
closed loop) it stops its own reader greenlets on the listeners and hands their descriptors to the
C reader, which times each arrival. The senders stay in Python. Built with the machine's C compiler on first use, into
bench/.build; without one (or when a socket negotiated permessage-deflate, which the C reader does
not inflate) versus_clients reads in Python as before and says so.
"""
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import gevent
from gevent.event import Event

SOURCE = Path(__file__).resolve().with_name("fast_reader.c")
BUILD_DIR = SOURCE.parent / ".build"


def binary() -> Path | None:
    """The compiled reader (built when the source changed), or None without a C compiler or a build."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    target = BUILD_DIR / f"fast_reader-{digest}"
    if not target.exists():
        BUILD_DIR.mkdir(exist_ok=True)
        built = subprocess.run([compiler, "-O2", "-Wall", "-o", str(target), str(SOURCE)],
                               capture_output=True, text=True)
        if built.returncode != 0:
            print(f"bench/fast_reader.c did not build; reading in Python:\n{built.stderr[-2000:]}", file=sys.stderr)
            return None
    return target


class FastReader:
    """The C reader on the given sockets; receipts so far, then finish() for the latencies.

    slow_us > 0: the slow reader, spending that much CPU on every frame (fast_reader.c)."""

    def __init__(self, program: Path, kind: str, socks: list, slow_us: float = 0) -> None:
        fds = [sock.fileno() for sock in socks]
        self.receipts = 0
        self.result: dict | None = None
        self._mark: tuple[int, float] | None = None
        self._marked = Event()
        self.process = subprocess.Popen([str(program), kind, f"{slow_us:g}", *map(str, fds)], pass_fds=fds,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._reading = gevent.spawn(self._read)

    def _read(self) -> None:
        for line in self.process.stdout:
            word, _, rest = line.partition(" ")
            if word == "progress":
                self.receipts = int(rest)
            elif word == "mark":
                receipts, cpu_us = map(int, rest.split())
                self.receipts, self._mark = receipts, (receipts, cpu_us / 1e6)
                self._marked.set()
            elif word == "done":
                receipts, frames, frame_bytes, closed, refused, cpu_us = map(int, rest.split())
                self.receipts = receipts
                latencies = [int(self.process.stdout.readline()) for _ in range(receipts)]
                self.result = {"latencies": latencies, "frames": frames, "frame_bytes": frame_bytes,
                               "closed": closed, "refused": refused, "cpu_seconds": cpu_us / 1e6}

    def mark(self) -> tuple[int, float]:
        """(receipts, the reader's CPU seconds) as of now: one end of a measuring window."""
        self._marked.clear()
        self.process.stdin.write("mark\n")
        self.process.stdin.flush()
        if not self._marked.wait(10):
            raise RuntimeError("the C reader did not answer")
        return self._mark

    def finish(self, expected: int, seconds: float) -> dict:
        """Once the last message is sent: wait for `expected` receipts, at most `seconds`."""
        self.process.stdin.write(f"end {seconds:g} {expected}\n")
        self.process.stdin.flush()
        self._reading.join(timeout=seconds + 30)
        self.process.wait(timeout=10)
        if self.result is None:
            raise RuntimeError(f"the C reader ended without its figures (exit {self.process.returncode})")
        return self.result
