"""webchat against its peers: Node + Socket.io 4 and Flask-SocketIO (gevent), one room, same load client.

It runs the matrix of issue 7 — fan-out latency (one sender at --rate msg/s to 100 and 1,000 sockets),
closed-loop throughput (10 senders, 100 listeners), idle memory (2,000 / 5,000 / 10,000 sockets) —
for each server, --repeat times, each run on a fresh server pinned to one core with this load client
pinned to the other, and prints one table of medians with the ratio webchat ÷ Node and the client's
CPU. --reader slow reads the listeners with a reader that spends --slow-us of CPU per frame (phones,
far-away browsers, busy laptops); --messages mix sends realistic lines instead of plain words.
See bench/README.md ("versus.py", and "Issue 26: slow readers and realistic messages").

A benchmark, not a test: it asserts nothing; exit status 1 only when no run produced a number.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import fanout  # noqa: E402
import gevent  # noqa: E402
import gevent.pool  # noqa: E402
from versus_clients import Stats, closed_loop, fanout_latency, open_conns  # noqa: E402
from versus_servers import ensure_flask_peer, ensure_node_peer, make_server  # noqa: E402

SERVERS = ("node", "socketio", "webchat")
TITLES = {"node": "Node/socket.io", "socketio": "Flask-SocketIO", "webchat": "webchat"}


@dataclass(frozen=True)
class Scenario:
    kind: str  # "fanout", "closed" or "idle"
    size: int  # listening sockets (fanout, closed) or idle sockets
    senders: int = 1

    @property
    def name(self) -> str:
        if self.kind == "fanout":
            return f"fan-out {self.size}"
        if self.kind == "closed":
            return f"closed loop {self.senders}→{self.size}"
        return f"idle {self.size}"

    @property
    def figures(self) -> list[tuple[str, str, str]]:
        """(row title, result key, format) of what this scenario reports."""
        if self.kind == "fanout":
            return [(f"{self.name}: first delivery ms", "first_ms", "{:.1f}"),
                    (f"{self.name}: p50 ms", "p50_ms", "{:.1f}"), (f"{self.name}: p99 ms", "p99_ms", "{:.1f}"),
                    (f"{self.name}: server CPU µs/delivery", "cpu_us_per_delivery", "{:.1f}"),
                    (f"{self.name}: bytes per message frame (inflated)", "frame_bytes", "{:.0f}")]
        if self.kind == "closed":
            return [(f"{self.name}: deliveries/s", "deliveries_per_s", "{:.0f}"),
                    (f"{self.name}: server CPU µs/delivery", "cpu_us_per_delivery", "{:.1f}")]
        return [(f"{self.name}: server KB/socket", "kb_per_socket", "{:.1f}")]


SLOW_RECEIVE_BUFFER = 4096  # --reader slow: each listener's SO_RCVBUF (an 8 KiB window on Linux)
QUICK = {"fanout": [50], "closed": [20], "idle": [200]}
FULL = {"fanout": [100, 1000], "closed": [100], "idle": [2000, 5000, 10000]}


def matrix(args) -> list[Scenario]:
    """The scenarios to run: issue 7's matrix (or --quick's), each list replaceable by its option."""
    defaults = QUICK if args.quick else FULL
    sizes = {kind: defaults[kind] if getattr(args, kind) is None else getattr(args, kind) for kind in defaults}
    return [*(Scenario("fanout", n) for n in sizes["fanout"]),
            *(Scenario("closed", n, args.senders) for n in sizes["closed"]),
            *(Scenario("idle", k) for k in sizes["idle"])]


@dataclass(frozen=True)
class Variant:
    """How the load client behaves in a run: permessage-deflate offered, its reader, its messages."""
    deflate: bool
    reader: str  # "fast", "slow" or "python"
    messages: str  # "plain" or "mix"

    @property
    def name(self) -> str:
        return " ".join([*(["deflate"] if self.deflate else []), f"{self.reader} reader", f"{self.messages} messages"])


def run_one(name: str, scenario: Scenario, variant: Variant, args, server_cpu, app_dir: Path) -> dict:
    """One fresh server, one scenario: the figures, or an "error"."""
    deflate, messages = variant.deflate, variant.messages
    label = f"[{name} {scenario.name} {variant.name}]"
    result: dict = {"server": name, "scenario": scenario.name, "deflate": deflate, "reader": variant.reader,
                    "messages": messages}
    result.update(fanout.wait_for_quiet(args.max_load, args.load_wait, label.strip("[]")))
    server = make_server(name, server_cpu, app_dir, node_deflate=args.node_deflate)
    group = gevent.pool.Group()
    conns: list = []
    profiler = None
    timeout, concurrency = args.setup_timeout, args.concurrency
    try:
        server.prepare(scenario.size + (scenario.senders if scenario.senders > 1 else 0))
        server.start()
        result["version"] = server.describe()
        stats = Stats()
        if scenario.kind == "idle":
            # Every idle socket is in the room: webchat's are members' pages showing the chat.
            cookies = server.credentials(scenario.size, concurrency, timeout)
            gevent.sleep(1.0)
            rss0 = server.rss_kb()
            conns, failures = open_conns(server, cookies, None, deflate, group, concurrency, label, timeout)
            gevent.sleep(2.0)
            rss1 = server.rss_kb()
            result.update(rss_before_kb=rss0, rss_after_kb=rss1,
                          kb_per_socket=(rss1 - rss0) / len(conns) if conns else None)
        else:
            sender_cookies = server.senders(scenario.senders, concurrency, timeout)
            senders, failures = open_conns(server, sender_cookies, None, deflate, group, concurrency, label, timeout,
                                           messages)
            if len(senders) < scenario.senders:
                raise RuntimeError(f"senders not connected: {failures}")
            cookies = server.credentials(scenario.size, concurrency, timeout)
            # The slow reader's sockets also have a small TCP window (SO_RCVBUF, doubled by Linux), as a
            # far-away or mobile link has: the server's buffers fill sooner when it falls behind.
            conns, failures = open_conns(server, cookies, stats, deflate, group, concurrency, label, timeout,
                                         receive_buffer=SLOW_RECEIVE_BUFFER if variant.reader == "slow" else 0)
            conns += senders
            listeners = conns[:len(conns) - len(senders)]
            if args.profile and name == "webchat":
                out = Path(args.profile) / f"webchat-{scenario.name}-{variant.name}.txt".replace(" ", "-")
                profiler = start_profiler(server.server.workers[0], out, args.seconds + 2)
            if scenario.kind == "fanout":
                result.update(fanout_latency(server, listeners, senders[0], stats, args.rate, args.seconds, label,
                                             reader=variant.reader, slow_us=args.slow_us))
            else:
                result.update(closed_loop(server, listeners, senders, stats, args.seconds, label,
                                          reader=variant.reader, slow_us=args.slow_us))
        if profiler is not None:
            profiler.wait(60)
            result["profile"] = str(out)
        result["sockets"] = len(conns)
        result["failures"] = failures
        result["extensions"] = sorted({c.tab.extensions or "-" for c in conns})
        return result
    except Exception as e:  # noqa: BLE001 - reported in the table's notes
        where = traceback.extract_tb(e.__traceback__)[-1]
        result["error"] = f"{type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"[:300]
        return result
    finally:
        group.kill(block=True, timeout=10)
        for conn in conns:
            conn.close()
        server.stop()
        fanout.progress(f"{label} " + summary(result), done=True)


def start_profiler(pid: int, out: Path, seconds: float) -> subprocess.Popen:
    """py-spy (pip install py-spy; not a dependency) samples the webchat worker for the run's window:
    collapsed stacks, gevent's idle hub included (--idle), into `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    process = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds + 1)), "--rate", "500",
                                "--format", "raw", "--idle", "--nonblocking", "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    gevent.sleep(0.5)  # let it attach
    return process


def summary(result: dict) -> str:
    if result.get("error"):
        return f"FAILED: {result['error']}"
    parts = [f"{k}={fanout.fmt('{:.1f}', result.get(k))}" for k in
             ("first_ms", "p50_ms", "p99_ms", "deliveries_per_s", "cpu_us_per_delivery", "kb_per_socket", "frame_bytes",
              "client_cpu_pct")
             if result.get(k) is not None]
    parts.append(f"sockets={result.get('sockets')}")
    for key in ("lost", "stuck_senders"):
        if result.get(key):
            parts.append(f"{key}={result[key]}")
    if result.get("failures"):
        parts.append(f"failures={result['failures']}")
    parts.append(f"ext={','.join(result.get('extensions') or [])}")
    return " ".join(parts)


def median(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None and not r.get("error")]
    return statistics.median(values) if values else None


def print_table(results: list[dict], scenarios: list[Scenario], variants: list[Variant], names: list[str]) -> None:
    header = ["figure (median of runs)", *(TITLES[n] for n in names)]
    if "node" in names and "webchat" in names:
        header.append("webchat÷Node")
    header += [f"client CPU % ({TITLES[n]})" for n in names]
    rows = [header]
    for variant in variants:
        for scenario in scenarios:
            runs = {n: [r for r in results if r["server"] == n and r["scenario"] == scenario.name
                        and (r["deflate"], r["reader"], r["messages"]) == (variant.deflate, variant.reader,
                                                                          variant.messages)] for n in names}
            for title, key, template in scenario.figures:
                values = {n: median(runs[n], key) for n in names}
                row = [title + (f" [{variant.name}]" if len(variants) > 1 else ""),
                       *(fanout.fmt(template, values[n]) for n in names)]
                if "node" in names and "webchat" in names:
                    ratio = values["webchat"] / values["node"] if values["webchat"] and values["node"] else None
                    row.append(fanout.fmt("{:.2f}", ratio))
                row += [fanout.fmt("{:.0f}", median(runs[n], "client_cpu_pct")) for n in names]
                rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        print("  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="webchat vs Node/socket.io vs Flask-SocketIO (bench/README.md).")
    parser.add_argument("--quick", action="store_true",
                        help="the smoke matrix: fan-out 50, closed loop 10→20, idle 200; 3 s windows; 1 run")
    parser.add_argument("--fanout", type=int, nargs="*", metavar="N",
                        help="fan-out listener counts (default 100 1000; 50 with --quick; none: skip)")
    parser.add_argument("--closed", type=int, nargs="*", metavar="N",
                        help="closed-loop listener counts (default 100; 20 with --quick; none: skip)")
    parser.add_argument("--senders", type=int, default=10, help="closed-loop senders")
    parser.add_argument("--idle", type=int, nargs="*", metavar="K",
                        help="idle socket counts (default 2000 5000 10000; 200 with --quick; none: skip)")
    parser.add_argument("--repeat", type=int, help="runs per server and scenario (default 3; 1 with --quick)")
    parser.add_argument("--only", default=",".join(SERVERS), help="servers to run, e.g. node,webchat")
    parser.add_argument("--deflate", choices=("on", "off", "both"), default="off",
                        help="offer permessage-deflate in every handshake, as browsers do")
    parser.add_argument("--node-deflate", action="store_true",
                        help="start the Node peer with perMessageDeflate on (socket.io's default is off)")
    parser.add_argument("--rate", type=float, default=20.0, help="fan-out: messages per second from the sender")
    parser.add_argument("--seconds", type=float, help="send window (default 10; 3 with --quick)")
    parser.add_argument("--max-load", type=float, default=1.0,
                        help="before each run, wait until the 1-minute load average is below this")
    parser.add_argument("--load-wait", type=float, metavar="SECONDS",
                        help="at most this long in all for --max-load, then measure anyway (600; 0 with --quick)")
    parser.add_argument("--concurrency", type=int, default=50, help="logins and handshakes in flight at once")
    parser.add_argument("--setup-timeout", type=float, default=900.0, help="max seconds for logins, and sockets")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="don't pin client and server to cores")
    parser.add_argument("--python-reader", action="store_true",
                        help="read the listeners in Python, not with bench/fast_reader.c (for comparison)")
    parser.add_argument("--reader", choices=("fast", "slow", "both"), default="fast",
                        help="the listeners' reader (bench/fast_reader.c): fast, as fast as it can; slow, spending "
                             "--slow-us of CPU per frame; both: one run of each")
    parser.add_argument("--slow-us", type=float, default=25.0,
                        help="--reader slow: CPU µs spent per frame (25: Node's ws client, ~50 %% of a core at "
                             "20,000 frames/s)")
    parser.add_argument("--messages", choices=("plain", "mix", "both"), default="plain",
                        help="message bodies: plain words, or a mix of realistic lines (punctuation, links, "
                             "mentions, :shortcodes:, code, multi-line); both: one run of each")
    parser.add_argument("--profile", metavar="DIR",
                        help="sample webchat's worker with py-spy during each measurement, into DIR")
    parser.add_argument("--app-dir", default=str(fanout.ROOT), help="the webchat checkout to serve")
    parser.add_argument("--json", metavar="FILE", help="also write every run's numbers as JSON")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if unknown := set(names) - set(SERVERS):
        parser.error(f"--only: unknown {', '.join(sorted(unknown))} (choose from {', '.join(SERVERS)})")
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    if args.load_wait is None:
        args.load_wait = 0.0 if args.quick else 600.0
    scenarios = matrix(args)
    if not scenarios or args.senders < 1 or min(s.size for s in scenarios) < 1:
        parser.error("nothing to run, or a size or --senders below 1")
    deflates = {"off": [False], "on": [True], "both": [False, True]}[args.deflate]
    readers = ["python"] if args.python_reader else {"fast": ["fast"], "slow": ["slow"], "both": ["fast", "slow"]}[
        args.reader]
    messages = {"plain": ["plain"], "mix": ["mix"], "both": ["plain", "mix"]}[args.messages]
    variants = [Variant(d, r, m) for d in deflates for r in readers for m in messages]

    # Client and server each hold one descriptor per socket; the servers inherit this limit.
    needed = max(s.size for s in scenarios) + 2048
    fanout.raise_fd_limit(needed)
    client_cpu, server_cpu = fanout.pick_cpus(args.pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    if "node" in names:
        ensure_node_peer()
    if "socketio" in names:
        ensure_flask_peer()
    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    print(f"load client pid {os.getpid()} on cpu {client_cpu}, servers on cpu {server_cpu}; "
          f"{args.repeat} run(s) each; {args.seconds:g} s windows; fan-out at {args.rate:g} msg/s; "
          f"readers {','.join(readers)} (slow: {args.slow_us:g} µs/frame); messages {','.join(messages)}; "
          f"1-minute load average {fanout.loadavg():.2f}", file=sys.stderr)

    results: list[dict] = []
    snapshot = Path(tempfile.mkdtemp(prefix="versus-app-"))
    started, app_version = time.monotonic(), "?"
    try:
        app_version = fanout.snapshot_app(Path(args.app_dir).resolve(), snapshot)
        # Repeats outermost and servers innermost: drift on a shared machine reaches every server alike.
        for repeat in range(args.repeat):
            for variant in variants:
                for scenario in scenarios:
                    for name in names:
                        fanout.progress(f"run {repeat + 1}/{args.repeat}: {name} {scenario.name} {variant.name} "
                                        f"({time.monotonic() - started:.0f} s)")
                        results.append(run_one(name, scenario, variant, args, server_cpu, snapshot))
    except KeyboardInterrupt:
        print("\ninterrupted; the table has the runs finished so far", file=sys.stderr)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    versions = {r["server"]: r["version"] for r in results if r.get("version")}
    print(f"\nversus: {args.repeat} run(s) per cell, {args.seconds:g} s windows, fan-out at {args.rate:g} msg/s, "
          f"slow reader {args.slow_us:g} µs/frame, "
          f"client on cpu {client_cpu}, servers on cpu {server_cpu}; webchat {app_version}; "
          f"1-minute load average at the end {fanout.loadavg():.2f}")
    for name in names:
        print(f"  {TITLES[name]}: {versions.get(name, '-')}"
              + ("; perMessageDeflate on (--node-deflate)" if name == "node" and args.node_deflate else ""))
    loads = [r["load_start"] for r in results if r.get("load_start") is not None]
    if loads:
        print(f"  1-minute load average when runs started: {min(loads):.2f}–{max(loads):.2f}"
              f"{' (some above --max-load: measured anyway)' if max(loads) >= args.max_load else ''}")
    print_table(results, scenarios, variants, names)
    problems = [r for r in results if r.get("error") or r.get("lost") or r.get("failures") or r.get("stuck_senders")]
    for r in problems:
        print(f"  note: {r['server']} {r['scenario']} {Variant(r['deflate'], r['reader'], r['messages']).name}: "
              f"{summary(r)}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if any(not r.get("error") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
