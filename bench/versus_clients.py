"""The load client of bench/versus.py: one socket type for all three servers, and the three measurements.

A Conn is bench/fanout.py's Tab (a minimal gevent WebSocket client: masked frames, pings answered,
permessage-deflate inflated) speaking either webchat's protocol (JSON frames in, HTML frames out,
"view" answered by the chat list) or Socket.IO v5 over Engine.IO v4 on the plain WebSocket
transport: "0{...}" open -> we send "40" connect -> "40{...}" -> we emit "join" with an ack id ->
"43<id>[...]" means joined; "2" ping -> "3" pong; "42[\"message\", html]" is a broadcast.
Every message body starts "bench <seq> <send time ns>", found in the HTML whatever the server, so the
latency is the same measurement everywhere (one process, one clock). With --messages mix the rest of
the body is a realistic line (MIX_LINES), which webchat renders as Markdown and the peers escape.
"""
import json
import re
import time
import uuid
from dataclasses import dataclass, field

import fanout
import fast_reader
import gevent
import gevent.pool
from gevent.event import Event

SIO_ACK = re.compile(rb"^43(\d+)")

# --messages mix: what team chats send: punctuation, a time, a link, a mention, :shortcodes:, a code
# span, emphasis, a few multi-line, one plain line in ten. Each follows "bench <seq> <ns> " (first, so
# a shortened chat-list preview still quotes it whole). The peers escape them alike (markupsafe's
# escapes), so their bytes stay the same.
MIX_LINES = (
    "Thanks!",
    "Meeting moved to 10:30, room B.",
    "See https://example.com/docs/setup?step=2#install for the steps.",
    "@member00001 can you take a look? :thumbsup:",
    "Run `make test` before pushing ~ it takes 2 min.",
    "Plan for today:\n- review the PR\n- ship 1.4\n- lunch :pizza:",
    "sounds good to me",
    "**Heads up**: the build is red again (see #ops).",
    "lol :joy: that's exactly what I said",
    "Two things:\nfirst, the deploy is at 5 pm.\nsecond, who has the keys?",
)


def message_body(seq: int, messages: str) -> str:
    """The body of bench message `seq`: its latency mark, then (mix) a realistic line."""
    mark = f"bench {seq} {time.time_ns()}"
    return mark if messages == "plain" else f"{mark} {MIX_LINES[seq % len(MIX_LINES)]}"


@dataclass
class Stats:
    counting: bool = False
    receipts: int = 0
    frames: int = 0  # frames that carried counted messages, and their bytes after inflating
    frame_bytes: int = 0
    latencies: list = field(default_factory=list)  # ns, send -> receipt, listener sockets only


def article_bodies(text: bytes):
    """The send times of the bench bodies inside message articles (a chat-list preview may quote one
    too). str.find, not fanout.ARTICLE's lazy regex: ten times cheaper, and the client must keep up."""
    start = text.find(b'<article id="m-')
    while start >= 0:
        end = text.find(b"</article>", start)
        if end < 0:
            return
        if body := fanout.BENCH_BODY.search(text, start, end):
            yield int(body.group(2))
        start = text.find(b'<article id="m-', end)


class Conn:
    """One socket of the load client to any of the three servers."""

    def __init__(self, server, cookie: str, stats: Stats | None, messages: str = "plain") -> None:
        self.server = server
        self.messages = messages  # what send_message sends: "plain" or "mix" (message_body)
        self.stats = stats  # None: a sender or idle socket, whose receipts are not counted
        self.tab = fanout.Tab("versus", cookie, None, 0)
        self.tab.on_text = self.on_text
        self.ready = Event()
        self.token = uuid.uuid4().hex[:12]
        self.confirmed = Event()  # the server acknowledged the last send
        self.confirmations = 0
        self._ack_id = 0
        self.reader = None  # the greenlet reading this socket (hand_to_c_reader stops it)

    @property
    def closed(self) -> bool:
        return self.tab.closed

    def open(self, deflate: bool, group: gevent.pool.Group, timeout: float = 60.0, receive_buffer: int = 0) -> None:
        self.tab.connect(self.server.port, deflate, timeout=timeout, path=self.server.path,
                         receive_buffer=receive_buffer)
        self.reader = group.spawn(self.tab.run)
        if self.server.kind == "webchat":
            self.tab.send_json({"type": "view", "chat": self.server.chat, "after": self.server.newest})
            # Shown in a visible tab, as the page says (static/connection.js), as bench/fanout.py does:
            # else each member counts as online elsewhere and every message is a desktop notice to each.
            self.tab.send_json({"type": "view-state", "chat": self.server.chat, "visible": True})
        if not self.ready.wait(timeout):
            raise RuntimeError(f"not ready within {timeout:g} s ({self.tab.close_reason or 'still open'})")

    def send_text(self, text: str) -> None:
        self.tab.sock.sendall(fanout.client_frame(fanout.OP_TEXT, text.encode()))

    def send_message(self, seq: int) -> None:
        self.confirmed.clear()
        body = message_body(seq, self.messages)
        client_id = f"bench-{self.token}-{seq}"
        if self.server.kind == "webchat":
            self.tab.send_json({"type": "send", "chat": self.server.chat, "body": body, "client_id": client_id})
        else:
            self._ack_id += 1
            self.send_text(f"42{self._ack_id}" + json.dumps(["send", {"body": body, "client_id": client_id}]))

    def on_text(self, text: bytes, now: int) -> None:
        if self.server.kind == "webchat":
            if not self.ready.is_set() and fanout.CHAT_LIST_MARK in text:
                self.ready.set()
            if self.stats is None and fanout.SENT_MARK.search(text):  # only senders wait for it
                self._confirm()
            if self.stats is not None and self.stats.counting:
                self._frame(text)
                for sent_ns in article_bodies(text):
                    self._receipt(sent_ns, now)
            return
        if text.startswith(b"42"):
            if self.stats is not None and self.stats.counting:
                self._frame(text)
                for body in fanout.BENCH_BODY.finditer(text):
                    self._receipt(int(body.group(2)), now)
        elif text == b"2":
            self.send_text("3")
        elif text.startswith(b"43"):
            if SIO_ACK.match(text).group(1) == b"0":
                self.ready.set()  # the join was acknowledged: we are in the room
            else:
                self._confirm()
        elif text.startswith(b"0{"):
            self.send_text("40")
        elif text.startswith(b"40"):
            self.send_text("420" + json.dumps(["join", "bench"]))
        elif text.startswith(b"44"):
            self.tab.close_reason = f"connect error {text[:200]!r}"

    def _confirm(self) -> None:
        self.confirmations += 1
        self.confirmed.set()

    def _frame(self, text: bytes) -> None:
        self.stats.frames += 1
        self.stats.frame_bytes += len(text)

    def _receipt(self, sent_ns: int, now: int) -> None:
        self.stats.receipts += 1
        self.stats.latencies.append(now - sent_ns)

    def close(self) -> None:
        self.tab.close()


def open_conns(server, cookies: list[str], stats: Stats | None, deflate: bool, group, concurrency: int,
               label: str, timeout: float, messages: str = "plain",
               receive_buffer: int = 0) -> tuple[list[Conn], dict]:
    """Open one socket per credential, `concurrency` handshakes at a time; (ready ones, failures).
    receive_buffer: each socket's SO_RCVBUF (the slow reader's small TCP window), 0: the system's."""
    conns: list[Conn] = []
    failures: dict[str, int] = {}
    pool = gevent.pool.Pool(concurrency)

    def one(cookie: str) -> None:
        conn = Conn(server, cookie, stats, messages)
        try:
            conn.open(deflate, group, receive_buffer=receive_buffer)
        except Exception as e:  # noqa: BLE001 - counted and reported
            reason = f"{type(e).__name__}: {e}"[:120]
            failures[reason] = failures.get(reason, 0) + 1
            conn.close()
            return
        conns.append(conn)

    started = time.monotonic()
    for cookie in cookies:
        pool.spawn(one, cookie)
    while not pool.join(timeout=0.5):
        server.check()
        fanout.progress(f"{label}: sockets ready {len(conns)}/{len(cookies)}")
        if time.monotonic() - started > timeout:
            pool.kill(block=True, timeout=5)
            failures["not opened in time"] = len(cookies) - len(conns) - sum(failures.values())
            break
    return conns, failures


def percentile(values: list, p: float) -> float | None:
    value = fanout.percentile(values, p)
    return None if value is None else value / 1e6


def fanout_latency(server, conns: list[Conn], sender: Conn, stats: Stats, rate: float, seconds: float,
                   label: str, reader: str = "fast", slow_us: float = 25) -> dict:
    """One sender at `rate` msg/s; send -> receipt latency on every listener and server CPU per delivery.

    The listeners are read by fast_reader (C) when it can be built and no socket compresses: read
    from Python, a frame costs the client more than a fast server takes to write it, and the p99
    would measure the client (bench/README.md). reader "slow": the C reader spending slow_us of CPU
    per frame (fast_reader.c); "python": this process reads them."""
    total = int(rate * seconds)
    gevent.sleep(1.0)
    kind = reader
    reader = kind != "python" and hand_to_c_reader(server, conns, slow_us if kind == "slow" else 0)
    stats.counting = True
    cpu0, client0, wall0 = server.cpu(), fanout.client_cpu_seconds(), time.monotonic()
    if reader:
        client0 += reader.mark()[1]
    lateness = 0.0
    for seq in range(total):
        delay = wall0 + seq / rate - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        else:
            lateness = max(lateness, -delay)
        sender.send_message(seq)
        if seq % 10 == 0:
            server.check()
            fanout.progress(f"{label}: sent {seq + 1}/{total}, deliveries {(reader or stats).receipts}")
    expected = total * len(conns)
    if reader:
        read = reader.finish(expected, 30)
        stats.receipts, stats.latencies = len(read["latencies"]), read["latencies"]
        stats.frames, stats.frame_bytes = read["frames"], read["frame_bytes"]
    else:  # (the C reader waits for the stragglers itself, in finish)
        deadline = time.monotonic() + 30
        while stats.receipts < expected and time.monotonic() < deadline:
            gevent.sleep(0.02)
    cpu1, client1, wall1 = server.cpu(), fanout.client_cpu_seconds(), time.monotonic()
    if reader:
        client1 += read["cpu_seconds"]  # the C reader's CPU: it runs on the client's core too
    stats.counting = False
    latencies = sorted(stats.latencies)
    return {
        "reader": kind if reader else "python",
        "first_ms": percentile(latencies, 0), "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "cpu_us_per_delivery": (cpu1 - cpu0) * 1e6 / stats.receipts if stats.receipts else None,
        "deliveries": stats.receipts, "expected": expected, "lost": max(0, expected - stats.receipts),
        "client_cpu_pct": 100 * (client1 - client0) / (wall1 - wall0), "send_lateness_ms": lateness * 1e3,
        "frame_bytes": stats.frame_bytes / stats.frames if stats.frames else None,
    }


def hand_to_c_reader(server, conns: list[Conn], slow_us: float = 0) -> "fast_reader.FastReader | None":
    """Stop reading the listeners here and let fast_reader read them, if it can: built, and no socket
    compresses (it does not inflate). Call while the sockets are quiet (nothing cut short)."""
    program = fast_reader.binary()
    if program is None or any(conn.tab.extensions for conn in conns):
        return None
    for conn in conns:
        conn.reader.kill()
    return fast_reader.FastReader(program, "webchat" if server.kind == "webchat" else "socketio",
                                  [conn.tab.sock for conn in conns], slow_us)


def closed_loop(server, conns: list[Conn], senders: list[Conn], stats: Stats, seconds: float, label: str,
                warmup: float = 1.0, reader: str = "fast", slow_us: float = 25) -> dict:
    """Each sender sends its next message when the server acknowledged the last; deliveries/s to the
    listeners and server CPU per delivery over `seconds` of steady state (after `warmup`). The senders
    are Python's; the listeners are read as in fanout_latency."""
    stop = Event()
    seqs = iter(range(10**12))
    stuck = []

    def loop(conn: Conn) -> None:
        while not stop.is_set() and not conn.closed:
            conn.send_message(next(seqs))
            if not conn.confirmed.wait(10):
                stuck.append(conn)
                return

    gevent.sleep(1.0)
    kind = reader
    reader = kind != "python" and hand_to_c_reader(server, conns, slow_us if kind == "slow" else 0)
    loops = [gevent.spawn(loop, conn) for conn in senders]
    gevent.sleep(warmup)
    stats.counting = True
    cpu0, client0, wall0 = server.cpu(), fanout.client_cpu_seconds(), time.monotonic()
    if reader:
        receipts0, reader_cpu0 = reader.mark()
    while time.monotonic() - wall0 < seconds:
        server.check()
        fanout.progress(f"{label}: {time.monotonic() - wall0:.0f}/{seconds:g} s, "
                        f"deliveries {(reader or stats).receipts}")
        gevent.sleep(0.25)
    if reader:
        receipts1, reader_cpu1 = reader.mark()
    cpu1, client1, wall1 = server.cpu(), fanout.client_cpu_seconds(), time.monotonic()
    stats.counting = False
    receipts = stats.receipts
    stop.set()
    gevent.joinall(loops, timeout=15)
    gevent.killall(loops)
    if reader:
        receipts = receipts1 - receipts0
        client1 += reader_cpu1 - reader_cpu0
        stats.latencies = reader.finish(0, 0)["latencies"][receipts0:receipts1]
    return {
        "reader": kind if reader else "python",
        "deliveries_per_s": receipts / (wall1 - wall0),
        "cpu_us_per_delivery": (cpu1 - cpu0) * 1e6 / receipts if receipts else None,
        "deliveries": receipts, "client_cpu_pct": 100 * (client1 - client0) / (wall1 - wall0),
        "stuck_senders": len(stuck), "p50_ms": percentile(sorted(stats.latencies), 50),
    }
