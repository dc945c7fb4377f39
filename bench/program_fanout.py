"""Program fan-out: one sender, 1,000 program sockets (JSON events) against 1,000 page sockets (HTML).

Two runs on fresh servers (gunicorn -k gevent -w 1, SQLite; PostgreSQL + Redis with --redis), the
same in all but the listeners, in this order:

  pages     each member signs in and opens a page's socket (cookie, Origin), {"type": "view"} on
            the chat and {"type": "view-state", "chat", "visible": true} (the chat in view, as the
            page says; --hidden leaves it out: see bench/README.md); ready at its chat list; a
            message arrives as the chat's HTML frame
  programs  each member has a read-write access token (made in the server's database by a
            subprocess, core/tokens.create) and opens a program's socket with it (Authorization:
            Bearer, no Origin, no cookie), {"type": "subscribe", "chat", "after": newest}; ready
            at "caught-up"; a message arrives as one {"type": "message.created", ...} event,
            serialised once per message for all of them (core/program_events.py)

  none      no listener at all: what a message to the 1,000-member chat costs before any delivery
            (store, render, publish, the notifier's plan for 1,000 members)

In each the sender sends --rate messages a second for --seconds over its page socket
(fanout.Sender: "bench <seq> <time_ns>"); every listener times send -> receipt. Printed per run:
deliveries, server CPU per delivery (master + worker utime+stime from the first send until every
listener had every message, / deliveries) and per message (and, less the "none" run's per
message, per delivery: the deliveries' own cost), latency p50/p99/max, the size of one
message's frame. fanout.py measures the page sockets the same way with more options.
A benchmark, not a test: exit 0 whatever it measured (1 only when it could not run).

    .venv/bin/python bench/program_fanout.py                          # 1,000 each, 20 msg/s for 10 s
    .venv/bin/python bench/program_fanout.py --members 100 --seconds 3
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fanout  # noqa: E402
from api_send import make_tokens  # noqa: E402
from fanout import ARTICLE, BENCH_BODY, CHAT_LIST_MARK, RunStats, Sender, Server, Tab, login, percentile, progress  # noqa: E402

CREATED = b'{"type":"message.created"'
CAUGHT_UP = b'"type":"caught-up"'
EVENT_BODY = re.compile(rb'"text":"bench (\d+) (\d+)"')


def listen(tab: Tab, stats: RunStats, sizes: dict, program: bool) -> None:
    """What the listener counts: its ready mark, and each bench message with its send time."""
    def on_text(text: bytes, now: int) -> None:
        if (CAUGHT_UP if program else CHAT_LIST_MARK) in text:
            tab.ready.set()
        if not stats.counting:
            return
        if program:
            found = EVENT_BODY.search(text) if text.startswith(CREATED) else None
            bodies = [found] if found else []
        else:
            bodies = [body for article in ARTICLE.finditer(text) if (body := BENCH_BODY.search(article.group(2)))]
        for body in bodies:
            seq = int(body.group(1))
            sizes.setdefault(seq, len(text))
            stats.receipt(tab, seq, int(body.group(2)), now)
        if not bodies:
            stats.other_frames += 1
    tab.on_text = on_text


def run(kind: str, args, cpus) -> dict:
    program = kind == "programs"
    _, server_cpu = cpus
    tmp = Path(tempfile.mkdtemp(prefix=f"webchat-program-fanout-{kind}-"))
    server = Server(args.members, tmp, server_cpu, fanout.ROOT, pg_redis=args.redis, label=kind)
    result = {"run": kind, "load_start": fanout.loadavg()}
    readers = gevent.pool.Group()
    tabs: list[Tab] = []
    try:
        server.prepare()
        seed = server.seed
        secrets = make_tokens(server, seed["members"]) if program else {}
        server.start()
        total = int(args.rate * args.seconds)
        stats, sizes = RunStats(total, seed["chat"], (), 0), {}
        cookies = {seed["sender"]: login(server.port, seed["sender"])}
        sender_tab = Tab("sender", cookies[seed["sender"]], None, total)
        sender_tab.connect(server.port, False)
        sender = Sender(sender_tab, seed["chat"], args.rate, total)
        readers.spawn(sender_tab.run)
        sender_tab.send_json({"type": "view", "chat": seed["chat"], "after": seed["newest"]})
        if not sender_tab.ready.wait(30):
            raise RuntimeError(f"the sender's socket got no chat list: {sender_tab.close_reason}")

        def open_tab(name: str) -> None:
            tab = Tab(name, None if program else login(server.port, name), stats, total)
            tab.connect(server.port, False, bearer=secrets.get(name))
            listen(tab, stats, sizes, program)
            readers.spawn(tab.run)
            kind_ = "subscribe" if program else "view"
            tab.send_json({"type": kind_, "chat": seed["chat"], "after": seed["newest"]})
            if not program and not args.hidden:  # the chat in view in a visible tab, as the page says
                tab.send_json({"type": "view-state", "chat": seed["chat"], "visible": True})
            tabs.append(tab)

        pool = gevent.pool.Pool(args.concurrency)
        started = time.monotonic()
        for name in seed["members"] if kind != "none" else []:
            pool.spawn(open_tab, name)
        while not pool.join(timeout=0.5):
            server.check()
            progress(f"[{kind}] sockets open {len(tabs)}/{args.members}")
        for tab in tabs:
            if not tab.ready.wait(max(1.0, 120 - (time.monotonic() - started))):
                raise RuntimeError(f"a {kind} socket was not ready: {tab.close_reason or 'still open'}")
        progress(f"[{kind}] {len(tabs)} sockets ready in {time.monotonic() - started:.1f} s", done=True)
        gevent.sleep(2.0)  # the handshakes' work done

        stats.counting = True
        cpu0, wall0 = server.cpu(), time.monotonic()
        sending = gevent.spawn(sender.run)
        while not sending.dead:
            server.check()
            progress(f"[{kind}] sent {sender.sent}/{total}, deliveries {stats.first_receipts}")
            gevent.sleep(0.25)
        sending.get()
        expected = len(tabs) * sender.sent
        deadline = time.monotonic() + args.drain
        while stats.first_receipts < expected and time.monotonic() < deadline:
            gevent.sleep(0.02)
        cpu, wall = server.cpu() - cpu0, time.monotonic() - wall0
        server.check()
        latencies = sorted(stats.latencies)
        deliveries = stats.first_receipts
        result.update({
            "sockets": len(tabs), "sent": sender.sent, "deliveries": f"{deliveries}/{expected}",
            "duplicates": stats.duplicates, "other_frames": stats.other_frames,
            "server_cpu_s": cpu, "window_s": wall,
            "cpu_us_per_delivery": cpu * 1e6 / deliveries if deliveries else None,
            "cpu_ms_per_message": cpu * 1e3 / sender.sent if sender.sent else None,
            "p50_ms": percentile(latencies, 50) / 1e6 if latencies else None,
            "p99_ms": percentile(latencies, 99) / 1e6 if latencies else None,
            "max_ms": latencies[-1] / 1e6 if latencies else None,
            "frame_bytes": sorted(sizes.values())[len(sizes) // 2] if sizes else None,
            "confirm_p50_ms": percentile(sorted(sender.acks), 50) / 1e6 if sender.acks else None,
            "load_end": fanout.loadavg(),
        })
        progress(f"[{kind}] {result['deliveries']} deliveries in {wall:.1f} s", done=True)
        result["log_problems"] = server.log_problems(10)
    finally:
        readers.kill(block=False)
        for tab in tabs:
            tab.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="JSON events to program sockets against HTML to page sockets.")
    parser.add_argument("--members", type=int, default=1000, help="listening sockets per run")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second from the sender")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=30.0, help="max seconds to wait for deliveries")
    parser.add_argument("--runs", nargs="+", choices=("none", "pages", "programs"),
                        default=["none", "pages", "programs"])
    parser.add_argument("--concurrency", type=int, default=50, help="logins and handshakes in flight at once")
    parser.add_argument("--redis", action="store_true", help="PostgreSQL + Redis instead of SQLite")
    parser.add_argument("--hidden", action="store_true",
                        help="page sockets do not say the chat is in view: each member is online elsewhere, and "
                             "every message is a desktop notice to each (core/notifications.py)")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args()
    fanout.raise_fd_limit(args.members * 2 + 1024)
    cpus = fanout.pick_cpus(args.pin)
    if cpus[0] is not None:
        os.sched_setaffinity(0, {cpus[0]})
    results = [run(kind, args, cpus) for kind in args.runs]
    base = next((r.get("cpu_ms_per_message") for r in results if r["run"] == "none"), None)
    for r in results:
        if base is not None and r["run"] != "none" and r.get("cpu_ms_per_message") is not None:
            r["delivery_only_us"] = (r["cpu_ms_per_message"] - base) * 1e3 / r["sockets"]
    print(f"\n{args.members} listeners, {args.rate:g} msg/s for {args.seconds:g} s, gunicorn -k gevent -w 1, "
          f"{'PostgreSQL + Redis' if args.redis else 'SQLite'}")
    print(f"{'run':<9} {'sockets':>7} {'deliveries':>13} {'cpu µs/deliv':>12} {'cpu ms/msg':>10} "
          f"{'net µs/deliv':>12} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'frame B':>7} {'confirm p50':>11} "
          f"{'load':>9}")

    def num(value, template):
        return template.format(value) if value is not None else "-"
    for r in results:
        print(f"{r['run']:<9} {r.get('sockets', '-'):>7} {r.get('deliveries', '-'):>13} "
              f"{num(r.get('cpu_us_per_delivery'), '{:.1f}'):>12} {num(r.get('cpu_ms_per_message'), '{:.2f}'):>10} "
              f"{num(r.get('delivery_only_us'), '{:.1f}'):>12} "
              f"{num(r.get('p50_ms'), '{:.1f}'):>7} {num(r.get('p99_ms'), '{:.1f}'):>7} "
              f"{num(r.get('max_ms'), '{:.1f}'):>7} {num(r.get('frame_bytes'), '{}'):>7} "
              f"{num(r.get('confirm_p50_ms'), '{:.1f}'):>11} "
              f"{r['load_start']:>4.2f}-{num(r.get('load_end'), '{:.2f}')}")
        for line in r.get("log_problems", []):
            print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
