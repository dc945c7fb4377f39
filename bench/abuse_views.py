"""Does one user flooding `view` frames on 49 sockets slow everyone else down? (issue 18)

Starts a checkout of webchat (--checkout, default this one) under gunicorn -k gevent, one worker,
SQLite in a temp dir, the shipped socket pace and work budget. mallory is in a chat of 130
messages; bob and carol share another chat. Per phase, for --seconds:

  victim poll      bob's page polls its chat over HTTP (GET /chats/<id>/messages?after=N, as htmx
                   does) every 100 ms: latency of each answer
  victim delivery  carol posts a message every 200 ms over HTTP; bob's socket shows it: latency
                   from the POST's start to its arrival on bob's socket

Phases: idle (nobody else), then attack: mallory opens 49 sockets (the per-user cap is 50) and
on each sends {"type":"view","chat":<id>,"after":0} as fast as the socket takes them, reading
every answer (in a process of its own at nice 19: a real attacker's client does not share the
server's CPUs); the victim is measured after --warmup seconds of that. Prints p50/p99/max per
phase and how many full replays mallory got a second.

    .venv/bin/python bench/abuse_views.py [--checkout /path/to/webchat] [--seconds 20] [--sockets 49]

Not a test: nothing asserts (tests/test_work_budget.py checks the behaviour). Client and server
share the machine: compare rows of one run.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.checkout_server import HERE, CheckoutServer, percentile  # noqa: E402
from tests.support.wsclient import Flooder, Person, Reader, server_worker_pids  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """The worker's user + system CPU time so far (nan once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

LATENCY_MARK = re.compile(r"lat-(\w+)-(\d+)\b")
MESSAGE_ID = re.compile(r'<article id="m-(\d+)"')


def timed(person: Person, call) -> tuple[float, object]:
    """(seconds, what call() returned, or the exception: a request that timed out after 30 s
    counts as taking them)."""
    started = time.monotonic()
    try:
        result = call()
    except OSError as e:  # TimeoutError included
        if person._conn is not None:
            person._conn.close()
            person._conn = None
        result = e
    return time.monotonic() - started, result


def victim(bob: Person, carol: Person, tab, chat: int, newest: int, label: str, seconds: float):
    """Poll latencies and socket delivery latencies (seconds) of bob while carol sends, and how
    many of carol's messages never reached bob (or were not sent: a POST that timed out)."""
    polls: list[float] = []
    refused: list[object] = []  # polls answered otherwise than 200 (kept out of the latencies)
    sent_at: dict[int, float] = {}
    stop = threading.Event()
    poller = bob.clone()

    def poll() -> None:
        after = newest
        while not stop.is_set():
            # As a page polls: after the newest message it shows, so an answer holds what is new.
            took, response = timed(poller, lambda a=after: poller.get(f"/chats/{chat}/messages?after={a}",
                                                                      headers={"HX-Request": "true"}))
            if getattr(response, "status", None) == 200:
                polls.append(took)
                after = max([after, *map(int, MESSAGE_ID.findall(response.text))])
            else:
                refused.append(getattr(response, "status", response))
            time.sleep(0.1)

    reader = Reader(tab, count_if=lambda frame: f"lat-{label}-" in frame)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    sender = carol.clone()
    deadline, i = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        sent_at[i] = time.monotonic()
        took, result = timed(sender, lambda i=i: sender.send(chat, f"lat-{label}-{i} hello"))
        if isinstance(result, Exception):
            print(f"  carol's send: {result!r} after {took:.1f} s")
        i += 1
        time.sleep(0.2)
    wait_until = time.monotonic() + 15
    while reader.counts < i and time.monotonic() < wait_until:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    got = {int(m.group(2)): stamp for stamp, frame in reader.stop() for m in LATENCY_MARK.finditer(frame)
           if m.group(1) == label}
    deliveries = [stamp - sent_at[n] for n, stamp in got.items()]
    return polls, deliveries, i - len(got), refused


def attack(url: str, cookie: str, chat: int, sockets: int, pin: bool) -> None:
    """The attacker's process: open the sockets, say "ready", flood until SIGINT, then print the
    full replays received and the seconds flooded."""
    from tests.support.wsclient import Tab, connect
    # A real attacker's client runs on a machine of its own: here it takes only CPU nobody else wants,
    # and with --pin only the last CPU, which the server and the victim's client do not use.
    os.nice(19)
    if pin:
        os.sched_setaffinity(0, {os.cpu_count() - 1})
    tabs = [Tab(connect(url, cookie=cookie, timeout=60)) for _ in range(sockets)]
    for tab in tabs:
        tab.ready(timeout=60)
    # One count per full replay: the frame holding the chat's first message.
    flooders = [Flooder(tab, {"type": "view", "chat": chat, "after": 0}, lambda frame: "history 0<" in frame)
                for tab in tabs]
    started = time.monotonic()
    print("ready", flush=True)  # flooding on every socket: a SIGINT from now on finds them all
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    counts = sum(f.reader.counts for f in flooders)
    cpu = os.times()
    print(counts, f"{cpu.user + cpu.system:.3f}", f"{time.monotonic() - started:.3f}", flush=True)
    for flooder in flooders:
        flooder._stop.set()
        flooder.tab.close()
    os._exit(0)


def main() -> None:
    if sys.argv[1:2] == ["--attack"]:
        url, cookie, chat, sockets, pin = sys.argv[2:7]
        return attack(url, cookie, int(chat), int(sockets), pin == "pin")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=HERE, help="the webchat checkout to serve (default: this one)")
    parser.add_argument("--seconds", type=float, default=20, help="seconds measured per phase (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of attack before measuring (default 3)")
    parser.add_argument("--sockets", type=int, default=49, help="attacking sockets (default 49)")
    parser.add_argument("--pin", action="store_true",
                        help="the attacker's client alone on the last CPU, as if on a machine of its own")
    parser.add_argument("--messages", type=int, default=130, help="messages in the attacked chat (default 130)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webchat-bench-abuse-") as tmp, \
            CheckoutServer(args.checkout, Path(tmp)) as server:
        print(f"{server.url}: checkout {server.checkout} ({server.commit()}); {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f} at start")
        alice, mallory, bob, carol = (Person.register(server.url, n) for n in ("alice", "mallory", "bob", "carol"))
        long_chat, chat = alice.create_chat("Long", [mallory]), carol.create_chat("Elsewhere", [bob])
        alice.send_many(long_chat, [f"history {i}" for i in range(args.messages)])
        newest = carol.send(chat, "hello bob")
        bob_tab = bob.open_tab()
        bob_tab.view(chat)
        victim(bob, carol, bob_tab, chat, newest, "warmup", 3)

        rows = []
        (worker,) = server_worker_pids(server.process.pid)
        if args.pin:  # the server and this client on the other CPUs, in both phases alike
            others = set(range(os.cpu_count() - 1))
            for pid in (0, server.process.pid, worker):
                os.sched_setaffinity(pid, others)
        cpu, wall = cpu_seconds(worker), time.monotonic()
        polls, deliveries, missing, refused = victim(bob, carol, bob_tab, chat, newest, "idle", args.seconds)
        rows.append(("idle", polls, deliveries, missing, refused,
                     f"worker CPU {100 * (cpu_seconds(worker) - cpu) / (time.monotonic() - wall):.0f}%"))

        # The attacker in a process of its own, so the victim's client is not starved of the GIL.
        attacker = subprocess.Popen(
            [sys.executable, __file__, "--attack", server.url, mallory.session_cookie, str(long_chat),
             str(args.sockets), "pin" if args.pin else "shared"], stdout=subprocess.PIPE, text=True)
        assert attacker.stdout.readline().strip() == "ready"
        time.sleep(args.warmup)
        cpu, started = cpu_seconds(worker), time.monotonic()
        polls, deliveries, missing, refused = victim(bob, carol, bob_tab, chat, newest, "attack", args.seconds)
        busy = 100 * (cpu_seconds(worker) - cpu) / (time.monotonic() - started)
        attacker.send_signal(signal.SIGINT)
        received, attacker_cpu, flooded = (float(word) for word in attacker.stdout.read().split()[-3:])
        attacker.wait(30)
        replays = received / flooded
        rows.append((f"attack ({args.sockets} sockets)", polls, deliveries, missing, refused,
                     f"worker CPU {busy:.0f}%; mallory got {replays:.1f} full replays/s of {args.messages} messages; "
                     f"her client's CPU {100 * attacker_cpu / flooded:.0f}%"))

        print(f"\n{args.seconds:.0f} s per phase; bob polls every 100 ms, carol sends every 200 ms\n")
        print(f"{'phase':22} {'poll p50':>9} {'p99':>8} {'max':>8} {'deliv p50':>10} {'p99':>8} {'max':>8} "
              f"{'lost':>4} {'refused':>7}  notes")
        for name, polls, deliveries, missing, refused, note in rows:
            p = [percentile(polls, f) * 1000 for f in (0.5, 0.99, 1)]
            d = [percentile(deliveries, f) * 1000 for f in (0.5, 0.99, 1)]
            print(f"{name:22} {p[0]:7.1f}ms {p[1]:6.1f}ms {p[2]:6.1f}ms {d[0]:8.1f}ms {d[1]:6.1f}ms {d[2]:6.1f}ms "
                  f"{missing:4d} {len(refused):7d}  {note}")
        restarts = server.log_path.read_text().count("WORKER TIMEOUT")  # CPU nan%: it was one of them
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end; gunicorn killed {restarts} stuck worker(s)")


if __name__ == "__main__":
    main()
