"""Do clients that never read, or that flood the server with frames, slow everyone else down?

Starts the app under gunicorn -k gevent (one worker, SQLite in a temp dir, the shipped socket
pace of 20 frames a second) on 127.0.0.1. One sender posts --messages messages of ~2 KB over
HTTP, one after the other, into a chat that 5 reader sockets show; each delivery's latency is
its receipt at a reader minus the start of its POST. Phases:

  alone                     nobody else
  N stalled readers         N more members' sockets in the chat that read nothing (4 KiB receive buffer)
  flooding views            one more member's socket sending {"type":"view"} frames as fast as it can
  flooding full replays     the same with "after": 0, each asking for the whole chat again

It prints p50, p99 and max of the readers' latencies per phase, the worker's RSS, and how many
stalled sockets the server still holds after asking each of them for the whole chat 8 times.

    .venv/bin/python bench/stalled_reader.py [--messages 300] [--stalled 1 10] [--pace 20]

Not a test: nothing asserts. tests/test_socket.py's test_a_client_that_never_reads_does_not_slow_the_others
checks the behaviour; this measures it.
"""
import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websocket  # noqa: E402

from tests.support.services import LiveServer  # noqa: E402
from tests.support.wsclient import (  # noqa: E402
    Closed,
    Person,
    Reader,
    rss_kib,
    server_end_open,
    server_worker_pids,
    socket_option_small_receive_buffer,
)

LATENCY_MARK = re.compile(r"lat-(\w+)-(\d+) ")
FILLER = ("lorem ipsum dolor sit amet consectetur " * 60)[:2000]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * (len(ordered) - 1) + 0.5))]


def deliver(sender: Person, chat: int, tabs, label: str, count: int) -> tuple[list[float], int]:
    """Send count messages over HTTP; every reader's latency of each, and how many never arrived."""
    readers = [Reader(tab, count_if=lambda frame: f"lat-{label}-" in frame) for tab in tabs]
    sent_at = {}
    try:
        for i in range(count):
            sent_at[i] = time.monotonic()
            sender.send(chat, f"lat-{label}-{i} {FILLER}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(r.counts < count for r in readers):
            time.sleep(0.05)
    finally:
        for reader in readers:
            reader.stop()
    latencies, missing = [], 0
    for reader in readers:
        got = {int(m.group(2)): stamp for stamp, frame in reader.received
               for m in LATENCY_MARK.finditer(frame) if m.group(1) == label}
        missing += count - len(got)
        latencies.extend(stamp - sent_at[i] for i, stamp in got.items())
    return latencies, missing


class Flooder:
    """A member's socket sending one frame after another as fast as the server takes them, and reading."""

    def __init__(self, person: Person, frame: dict) -> None:
        self.tab = person.open_tab()
        self.frame = frame
        self.sent = 0
        self._stop = threading.Event()
        self._reader = Reader(self.tab)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.tab.send_json(self.frame)
                self.sent += 1
        except (OSError, Closed, websocket.WebSocketException):
            pass  # closed, or blocked past the socket's timeout: the server stopped reading it

    def stop(self) -> tuple[int, int]:
        """(frames sent, frames answered)."""
        self._stop.set()
        self._thread.join(10)
        answered = len(self._reader.stop())
        self.tab.close()
        return self.sent, answered


def print_report(args, rows) -> None:
    print(f"\n{args.messages} messages of ~2 KB over HTTP per phase, 5 reader sockets; "
          f"socket pace {args.pace} frames/s\n")
    print(f"{'phase':24} {'p50':>8} {'p99':>8} {'max':>8} {'missing':>7} {'RSS before':>11} {'after':>9}  notes")
    for name, latencies, missing, before, after, note in rows:
        p50, p99, worst = ((percentile(latencies, f) * 1000 if latencies else float("nan")) for f in (0.5, 0.99, 1))
        print(f"{name:24} {p50:6.1f}ms {p99:6.1f}ms {worst:6.1f}ms {missing:7d} {before / 1024:8.1f}MiB "
              f"{after / 1024:6.1f}MiB  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300, help="messages per phase (default 300)")
    parser.add_argument("--stalled", type=int, nargs="+", default=[1, 10], help="stalled readers per phase")
    parser.add_argument("--pace", default="20", help="WEBCHAT_SOCKET_FRAMES_PER_SECOND (0: unpaced)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webchat-bench-stalled-") as tmp, \
            LiveServer(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp),
                       extra_env={"WEBCHAT_SOCKET_FRAMES_PER_SECOND": args.pace}) as server:
        sender, reader, flooder = (Person.register(server.url, name) for name in ("sender", "reader", "flooder"))
        idle = [Person.register(server.url, f"idle{i}") for i in range(max(args.stalled))]
        chat = sender.create_chat("Busy", [reader, flooder, *idle])
        tabs = [reader.open_tab() for _ in range(5)]
        (worker,) = server_worker_pids(server.process.pid)
        deliver(sender, chat, tabs, "warmup", 50)

        rows = []

        def worker_rss() -> int:
            try:
                return rss_kib(worker)
            except OSError:
                return 0  # the worker is gone

        def phase(name: str, label: str, setup=None, teardown=None) -> None:
            rss_before, note, latencies, missing = worker_rss(), "", [], args.messages
            try:
                state = setup() if setup else None
            except (OSError, websocket.WebSocketException) as e:
                note = f"could not open its socket ({type(e).__name__})"
            else:
                try:
                    latencies, missing = deliver(sender, chat, tabs, label, args.messages)
                except (AssertionError, OSError) as e:
                    note = f"sending failed ({type(e).__name__})"
                note = "; ".join(filter(None, [note, teardown(state) if teardown else ""]))
            if not os.path.exists(f"/proc/{worker}"):
                note += "; THE WORKER DIED and was replaced (gunicorn's log: WORKER TIMEOUT)"
            rows.append((name, latencies, missing, rss_before, worker_rss(), note))
            if not os.path.exists(f"/proc/{worker}"):
                print_report(args, rows)
                raise SystemExit(1)

        phase("alone", "alone")
        for count in args.stalled:
            def open_stalled(count=count):
                stalled = [person.open_tab(sockopt=socket_option_small_receive_buffer(4096)) for person in idle[:count]]
                return stalled

            def drop_stalled(stalled, count=count):
                for tab in stalled:  # each asks for the whole chat 8 times and still reads nothing
                    for _ in range(8):
                        tab.view(chat, after=0)
                deadline = time.monotonic() + 20
                while any(server_end_open(t, server.port) for t in stalled) and time.monotonic() < deadline:
                    time.sleep(0.1)
                held = sum(server_end_open(t, server.port) for t in stalled)
                for tab in stalled:
                    tab.close()
                return f"server still holds {held} of {count} stalled sockets after 8 full replays each"
            phase(f"{count} stalled reader{'s' if count > 1 else ''}", f"stalled{count}", open_stalled, drop_stalled)

        newest = {"type": "view", "chat": chat, "after": 2 ** 40}
        everything = {"type": "view", "chat": chat, "after": 0}
        for name, label, frame in (("flooding views", "floodview", newest),
                                   ("flooding full replays", "floodreplay", everything)):
            def start(frame=frame):
                return Flooder(flooder, frame)

            def finish(flood):
                sent, answered = flood.stop()
                return f"flooder sent {sent} frames, got {answered} answers"
            phase(name, label, start, finish)

        print_report(args, rows)


if __name__ == "__main__":
    main()
