"""Push fan-out benchmark: a message to a 1,000-member chat where 900 are offline with a Web Push
subscription, the real app under gunicorn, a local push service in a process of its own.

Two runs on fresh servers, the same in all but one thing: in "push" the offline members each have
a subscription (to the local push service), in "baseline" nobody has one. In each, --online
members keep a socket open (and view the chat), the sender sends --messages messages over its
socket, --interval seconds apart. Printed per run: the sender's confirmation (send -> its
"sent" mark), the online members' delivery latency (send -> receipt; p50, p99, max), and for
"push", per message, the time from the send until the last of its pushes reached the push
service (p50 and max over the messages) and how many arrived. Each message pushes (the folding
window is 0 here: the worst case; with the default 30 s a chat's later messages fold).

The push service answers 201 at once and decrypts nothing: this measures the app's side (claim,
rule, encryption, VAPID, HTTP). See bench/README.md. A benchmark, not a test: exit 0 whatever
it measured (1 only when it could not run).

    .venv/bin/python bench/push_fanout.py                     # 1,000 members, 100 online
    .venv/bin/python bench/push_fanout.py --members 300 --online 30 --messages 3
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fanout  # noqa: E402
from fanout import HOST, RunStats, Sender, Server, Tab, free_port, login, percentile, progress  # noqa: E402

SUBSCRIBE = """
import json, sys
from webchat import create_app
from webchat.extensions import db
from webchat.models import PushSubscription, User
names, sink, p256dh, auth = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
app = create_app()
with app.app_context():
    users = db.session.scalars(db.select(User).where(User.username.in_(names))).all()
    db.session.add_all(PushSubscription(user_id=u.id, endpoint=f"{sink}/push/{u.username}", p256dh=p256dh,
                                        auth=auth, device="bench") for u in users)
    db.session.commit()
    print(len(users))
"""


# ----- the push service: its own process, so its work is not the client's or the server's --------

def serve_sink(port: int) -> None:
    """POST /push/<name> -> 201, its arrival time kept; GET /arrivals -> every arrival time (ns)."""
    from gevent.pywsgi import WSGIServer

    arrivals: list[int] = []

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            environ["wsgi.input"].read()
            arrivals.append(time.time_ns())
            start_response("201 Created", [("Content-Length", "0")])
            return [b""]
        body = json.dumps(arrivals).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    WSGIServer((HOST, port), app, log=None).serve_forever()


def arrivals(port: int) -> list[int]:
    with urllib.request.urlopen(f"http://{HOST}:{port}/arrivals", timeout=10) as r:
        return json.loads(r.read())


def browser_keys() -> tuple[str, str]:
    """A browser's subscription keys (RFC 8291): a P-256 public key and a 16-byte auth secret."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    return b64(raw), b64(os.urandom(16))


# ----- one run -----------------------------------------------------------------------------------

def run(label: str, args, subscribe: bool, cpus) -> dict:
    client_cpu, server_cpu = cpus
    tmp = Path(tempfile.mkdtemp(prefix=f"webchat-push-{label}-"))
    result = {"run": label}
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(sink_port)], start_new_session=True)
    server = Server(args.members, tmp, server_cpu, fanout.ROOT, label=label)
    server.env.update({"WEBCHAT_PUSH_HTTP_HOSTS": HOST, "WEBCHAT_NOTIFY_FOLD_SECONDS": "0"})
    readers = gevent.pool.Group()
    try:
        server.prepare()
        seed = server.seed
        online, offline = seed["members"][:args.online], seed["members"][args.online:]
        if subscribe:
            p256dh, auth = browser_keys()
            made = subprocess.run([sys.executable, "-c", SUBSCRIBE, json.dumps(offline), f"http://{HOST}:{sink_port}",
                                   p256dh, auth], cwd=fanout.ROOT, env=server.env, capture_output=True, text=True,
                                  check=True)
            result["subscriptions"] = int(made.stdout.strip().splitlines()[-1])
        server.start()
        total = args.messages
        stats = RunStats(total, seed["chat"], (), 0)
        cookies = {}
        pool = gevent.pool.Pool(50)
        for name in [seed["sender"], *online]:
            pool.spawn(lambda n: cookies.__setitem__(n, login(server.port, n)), name)
        pool.join()
        sender_tab = Tab("sender", cookies[seed["sender"]], None, total)
        sender_tab.connect(server.port, False)
        sender = Sender(sender_tab, seed["chat"], 1 / args.interval, total)
        send_times: list[int] = []  # when each message left (the push waves are timed from it)
        plain_send = sender_tab.send_json

        def timed_send(frame: dict) -> None:
            if frame.get("type") == "send":
                send_times.append(time.time_ns())
            plain_send(frame)
        sender_tab.send_json = timed_send
        readers.spawn(sender_tab.run)
        sender_tab.send_json({"type": "view", "chat": seed["chat"], "after": seed["newest"]})
        sender_tab.ready.wait(30)
        tabs = []
        for name in online:
            tab = Tab(name, cookies[name], stats, total)
            tab.connect(server.port, False)
            readers.spawn(tab.run)
            tab.send_json({"type": "view", "chat": seed["chat"], "after": seed["newest"]})
            tab.send_json({"type": "view-state", "chat": seed["chat"], "visible": True})  # in view: no notice
            tabs.append(tab)
        for tab in tabs:
            tab.ready.wait(30)
        gevent.sleep(1)
        progress(f"[{label}] {len(tabs)} online, {len(offline)} offline"
                 + (f" with {result['subscriptions']} subscriptions" if subscribe else ""), done=True)
        stats.counting = True
        cpu0 = server.cpu()
        sender.run()
        gevent.sleep(args.drain)
        result["server_cpu_s"] = server.cpu() - cpu0
        server.check()
        acks = sorted(sender.acks)
        lat = sorted(stats.latencies)
        result.update({
            "confirm_p50_ms": percentile(acks, 50) / 1e6 if acks else None,
            "confirm_max_ms": acks[-1] / 1e6 if acks else None,
            "delivery_p50_ms": percentile(lat, 50) / 1e6 if lat else None,
            "delivery_p99_ms": percentile(lat, 99) / 1e6 if lat else None,
            "delivery_max_ms": lat[-1] / 1e6 if lat else None,
            "deliveries": f"{stats.first_receipts}/{len(tabs) * sender.sent}",
        })
        if subscribe:
            got = sorted(arrivals(sink_port))
            sends = sorted(send_times)
            waves = []
            for i, sent in enumerate(sends):
                until = sends[i + 1] if i + 1 < len(sends) else float("inf")
                mine = [t for t in got if sent <= t < until]
                waves.append((len(mine), (mine[-1] - sent) / 1e6 if mine else None))
            done = sorted(ms for _, ms in waves if ms is not None)
            result.update({"pushes": f"{len(got)}/{len(offline) * sender.sent}",
                           "last_push_p50_ms": percentile(done, 50), "last_push_max_ms": done[-1] if done else None,
                           "per_message": waves})
        problems = server.log_problems(10)
        if problems:
            result["log_problems"] = problems
    finally:
        readers.kill(block=False)
        server.stop()
        sink.terminate()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="Web Push fan-out benchmark (bench/README.md).")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--online", type=int, default=100, help="members with a socket open; the rest are offline")
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between messages")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait after the last message")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args()
    if args.sink:
        serve_sink(args.sink)
        return 0
    fanout.raise_fd_limit(4096)
    cpus = fanout.pick_cpus(args.pin)
    if cpus[0] is not None:
        os.sched_setaffinity(0, {cpus[0]})
    results = [run("baseline", args, False, cpus), run("push", args, True, cpus)]
    print(f"\n{args.members} members, {args.online} online, {args.members - args.online} offline; "
          f"{args.messages} messages {args.interval:g} s apart; load {fanout.loadavg():.2f}")
    print(f"{'run':<9} {'confirm p50':>11} {'deliv p50':>9} {'deliv p99':>9} {'deliv max':>9} "
          f"{'last push p50':>13} {'last push max':>13} {'pushes':>11} {'server cpu':>10}")

    def ms(value):
        return f"{value:.1f}" if value is not None else "-"
    for r in results:
        print(f"{r['run']:<9} {ms(r['confirm_p50_ms']):>11} {ms(r['delivery_p50_ms']):>9} "
              f"{ms(r['delivery_p99_ms']):>9} {ms(r['delivery_max_ms']):>9} {ms(r.get('last_push_p50_ms')):>13} "
              f"{ms(r.get('last_push_max_ms')):>13} {r.get('pushes', '-'):>11} {r['server_cpu_s']:>9.2f}s")
        for line in r.get("log_problems", []):
            print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
