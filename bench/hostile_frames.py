"""Hostile frames against a real server: does the worker's memory stay bounded?

Starts the app under gunicorn -k gevent (one worker, SQLite in a temp dir) on 127.0.0.1, signs one
user in, then for each kind of frame opens --sockets sockets at once, sends the frame on every
one, waits for each close and its code, and repeats --rounds times. It prints the worker's RSS
before and after each kind and its peak meanwhile (VmHWM, reset through /proc/<pid>/clear_refs
before each kind; the reset needs root, otherwise the peak is the worker's lifetime peak).

    .venv/bin/python bench/hostile_frames.py [--sockets 40] [--rounds 5]

Not a test: nothing asserts. The frames are those of tests/test_hostile_sockets.py
(tests/support/rawframes.py).
"""
import argparse
import collections
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import rawframes  # noqa: E402
from tests.support.services import LiveServer  # noqa: E402
from tests.support.wsclient import Closed, Person, Tab, connect, memory_kib, reset_peak, server_worker_pids  # noqa: E402

KINDS = {
    "control: open, then close (nothing sent)": (lambda: b"", 0),
    "one frame claiming 64 MiB (32 KiB sent)": (rawframes.claiming_64_mib, 64 * rawframes.MIB),
    "41 continuation frames of 1 KiB": (rawframes.continuation_frames_past_the_limit, 41 * 1024),
    "5,000 empty continuation frames": (rawframes.empty_continuation_frames, 0),
    "compressed frame inflating to 16 MiB": (rawframes.compressed_bomb, 16 * rawframes.MIB),
}






def attack(base_url: str, cookie: str, payload: bytes, sockets: int) -> collections.Counter:
    tabs = [Tab(connect(base_url, cookie=cookie, timeout=10)) for _ in range(sockets)]
    if not payload:
        for tab in tabs:
            tab.ready()  # served: subscribed, presence announced
            tab.close()
        return collections.Counter({"by us": sockets})
    for tab in tabs:
        with contextlib.suppress(OSError):
            tab.ws.sock.sendall(payload)
    codes: collections.Counter = collections.Counter()
    for tab in tabs:
        try:
            codes[tab.wait_closed(timeout=10)] += 1
        except AssertionError:
            codes["still open"] += 1
        except Closed as closed:
            codes[closed.code] += 1
        tab.close()
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=40, help="sockets attacking at once (default 40)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per kind of frame (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webchat-bench-hostile-") as tmp, \
            LiveServer(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp),
                       extra_env={"WEBCHAT_SOCKETS_PER_USER": str(args.sockets + 10)}) as server:
        person = Person.register(server.url, "hostile")
        (worker,) = server_worker_pids(server.process.pid)
        for _ in range(3):  # warm up: templates compiled, pools filled
            attack(server.url, person.session_cookie, b"", args.sockets)
        time.sleep(0.5)
        print(f"worker {worker}: {memory_kib(worker)['VmRSS'] / 1024:.1f} MiB RSS at rest; "
              f"{args.sockets} sockets at once x {args.rounds} rounds per kind\n")
        print(f"{'frame':42} {'sent/socket':>11} {'would hold':>10} {'closes':>18} "
              f"{'RSS before':>10} {'after':>8} {'peak':>8}")
        for name, (build, claimed) in KINDS.items():
            payload = build()
            exact_peak = reset_peak(worker)
            before = memory_kib(worker)["VmRSS"]
            codes: collections.Counter = collections.Counter()
            for _ in range(args.rounds):
                codes += attack(server.url, person.session_cookie, payload, args.sockets)
            time.sleep(0.3)
            after = memory_kib(worker)
            closes = ", ".join(f"{n}x{code}" for code, n in sorted(codes.items(), key=str))
            would = f"{claimed * args.sockets / rawframes.MIB:.0f} MiB" if claimed else "unbounded" if payload else "-"
            print(f"{name:42} {len(payload) / 1024:>8.1f} KiB {would:>10} {closes:>18} "
                  f"{before / 1024:>7.1f} MiB {after['VmRSS'] / 1024:>4.1f} MiB "
                  f"{after['VmHWM'] / 1024:>4.1f} MiB{'' if exact_peak else ' (lifetime peak)'}")
        print("\n'would hold': what the worker would buffer for one round if it kept what each frame claims or "
              "inflates to; 1009 = message too big, 1002 = protocol error (RSV1 without negotiated compression).")


if __name__ == "__main__":
    main()
