"""One browser tab's WebSocket: ordered, never-blocking writes, and reading its frames.

Why not simple-websocket's send(): it blocks the caller when the peer reads slowly and ignores
partial writes, so one stalled reader would stall every broadcast and corrupt its own stream.
Here a write first tries a non-blocking send of the ready frame; whatever does not fit goes on
this socket's bounded backlog, drained by a writer greenlet that exists only while there is a
backlog. Control frames (pong, ping, close) take the same path, so bytes never interleave. A
socket whose backlog outgrows its bound, or that makes no progress for STALL_SECONDS, is cut:
its page reconnects and catches up from the database.

Under gevent the socket is detached from the request that opened it (detach()) and the request
ends: its context, gunicorn's parser and the deep request stack are freed. The socket is then
read by a watcher on its descriptor (serve_detached): an idle socket holds no greenlet, only its
descriptor, wsproto's parser and a few small objects (bench/versus.py measures it). A threaded
development server reads in the request's thread instead (serve()).

What a peer can make it hold is bounded: one 64 KiB read, and one message of at most
max_message_size characters in at most MAX_FRAGMENTS frames. permessage-deflate is never
negotiated (the socket's admission declines it), so a compressed frame (RSV1) is a protocol
error (1002) rather than a zip bomb. Frames are handled at most frames_per_second (after a
burst): a flooding peer is simply read more slowly, its TCP window fills and it waits, while
the worker serves everyone else.
"""
import _socket
import contextlib
import logging
import os
import socket
import time
from collections import deque

import gevent
from gevent.socket import wait_write
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from .event_loop import Pinger, read_buffer, schedule_flush, under_gevent
from .frames import close_frame, ping_frame, pong_frame, text_frame
from .hub import Delivery

log = logging.getLogger(__name__)

# RFC 6455 close codes used here.
GOING_AWAY_RECONNECT = 1012  # "service restart": htmx's ws extension reconnects after it
POLICY_VIOLATION = 1008  # signed out, not allowed: the page must not retry
UNSUPPORTED_DATA = 1003  # binary frames
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009
# What a socket that was sent nothing for a while is sent: unlike a WebSocket ping, the page sees
# it (static/connection.js), so it can tell a dead connection from a quiet one.
HEARTBEAT = text_frame("<template data-heartbeat></template>")
# Browsers send each message as one frame; empty continuation frames would otherwise cost a list
# slot each without ever reaching the size limit.
MAX_FRAGMENTS = 64


class NoThread:
    """Stands in for simple-websocket's reader thread: our read loop runs in the handler's greenlet."""

    def __init__(self, target=None, **kwargs):
        self.name = "webchat-socket"

    def start(self):
        pass


class SocketConnection:
    MAX_BACKLOG_BYTES = 1 << 20
    STALL_SECONDS = 20.0
    # An idle socket is mostly this object: no per-instance dict.
    __slots__ = ("ws", "protocol", "sock", "_raw", "ping_interval", "max_message_size", "on_text", "on_ping",
                 "skip_presence", "closed", "_backlog", "_backlog_bytes", "_writer", "_incoming",
                 "_incoming_size", "_incoming_frames", "frames_per_second", "_tokens", "_burst", "_refilled",
                 "heard_at", "pinged_at", "heartbeat_interval", "written_at", "_pending", "_reader", "_on_end",
                 "_working", "__weakref__")

    def __init__(self, ws, *, ping_interval: float, max_message_size: int, on_text, on_ping=None,
                 frames_per_second: float = 0, heartbeat_interval: float = 0) -> None:
        self.ws = ws  # the simple_websocket.Server that did the handshake; None once detached
        self.protocol = ws.ws  # wsproto's parser of incoming frames
        self.sock = ws.sock
        # The OS socket under gevent's wrapper: send() on it never waits, it says how much fitted.
        self._raw = getattr(ws.sock, "_sock", ws.sock)
        self.ping_interval = ping_interval
        self.heartbeat_interval = heartbeat_interval  # 0: none
        self.max_message_size = max_message_size
        self.on_text = on_text
        self.on_ping = on_ping
        # A viewer who hides their presence is sent nobody else's either.
        self.skip_presence = False
        self.closed = False
        # Frames written this turn of the loop: the one frame itself, or a list from the second
        # on (so a fan-out allocates nothing per recipient for the garbage collector to track).
        self._pending: bytes | list[bytes] | None = None
        self._reader = self._on_end = None  # detached: the read watcher, and what to call at the end
        self._working = False  # detached: a greenlet is handling frames read
        self._backlog: deque[bytes] | None = None  # made when a write does not fit at once
        self._backlog_bytes = 0
        self._writer = None
        self._incoming: list[str] = []
        self._incoming_size = 0
        self._incoming_frames = 0
        self.frames_per_second = frames_per_second  # 0: not paced
        self._tokens = self._burst = 3 * frames_per_second
        self._refilled = self.heard_at = self.written_at = time.monotonic()
        self.pinged_at: float | None = None

    def detach(self) -> None:
        """Own the connection apart from the request that opened it: a descriptor of our own
        (the server closes its copy when the request ends, which only drops that descriptor) and
        wsproto's frame parser without its finished HTTP handshake."""
        # The OS socket itself, not gevent's wrapper (and its two watchers): a detached socket is
        # read through a watcher of its own (serve_detached) and written without waiting.
        self.sock = self._raw = _socket.socket(fileno=os.dup(self.ws.sock.fileno()))  # _socket: never gevent's
        self._raw.setblocking(False)
        self.protocol = self.ws.ws.connection
        self.ws.connected = False  # flask-sock's ws.close() at the end of the request sends nothing
        self.ws = None

    # ----- writing -------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> None:
        """The hub's entry point: the frame is shared by every subscriber of the publication."""
        if self.skip_presence and delivery.text.startswith("<template data-presence-signal"):
            return
        self.write(delivery.frame)

    def write(self, data: bytes) -> None:
        """Queue a frame for the end of this turn of the event loop (event_loop.schedule_flush)."""
        if self.closed:
            return
        pending = self._pending
        if pending is None:
            if not under_gevent():
                self._send_now(data)
                return
            self._pending = data
            schedule_flush(self)
        elif type(pending) is list:
            pending.append(data)
        else:
            self._pending = [pending, data]

    def flush(self) -> None:
        """Write the frames queued this turn, in one system call."""
        pending, self._pending = self._pending, None
        if pending is not None and not self.closed:
            self._send_now(b"".join(pending) if type(pending) is list else pending)

    def _send_now(self, data: bytes) -> None:
        self.written_at = time.monotonic()
        if self._backlog:
            self._enqueue(data)
            return
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort()
            return
        if sent < len(data):
            self._enqueue(memoryview(data)[sent:])

    def _enqueue(self, data) -> None:
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.append(data)
        self._backlog_bytes += len(data)
        if self._backlog_bytes > self.MAX_BACKLOG_BYTES:
            self.abort()  # a reader this far behind is better served by a fresh catch-up
        elif self._writer is None:
            self._writer = gevent.spawn(self._drain)

    def _drain(self) -> None:
        try:
            while self._backlog and not self.closed:
                wait_write(self._raw.fileno(), timeout=self.STALL_SECONDS,
                           timeout_exc=TimeoutError("socket made no progress"))
                data = self._backlog[0]
                try:
                    sent = self._raw.send(data)
                except BlockingIOError:
                    continue
                self._backlog_bytes -= sent
                if sent == len(data):
                    self._backlog.popleft()
                else:
                    self._backlog[0] = memoryview(data)[sent:]
        except (OSError, TimeoutError):
            self.abort()
        finally:
            self._writer = None

    def close(self, code: int, reason: str = "") -> None:
        """Say goodbye with a close code (after anything already queued), then hang up."""
        if self.closed:
            return
        self.write(close_frame(code, reason))
        self.flush()
        self._finish(wait_for_backlog=True)

    def abort(self) -> None:
        """Hang up without a close frame; the browser sees 1006 and reconnects."""
        if self.closed:
            return
        self._finish(wait_for_backlog=False)

    def _finish(self, wait_for_backlog: bool) -> None:
        self.closed = True
        if self.ws is not None:
            self.ws.connected = False  # so flask-sock's ws.close() afterwards sends nothing more
        writer = self._writer
        if wait_for_backlog and writer is not None and writer is not gevent.getcurrent():
            writer.join(timeout=1.0)
        elif writer is not None and writer is not gevent.getcurrent():
            writer.kill(block=False)
        self._backlog = self._pending = None
        Pinger.forget(self)
        if self._reader is not None:
            self._reader.stop()  # before the descriptor closes: the loop must not watch a closed one
            if not self._working and self._on_end is not None:
                gevent.spawn_raw(self._ended)  # closed from elsewhere while idle: nobody else will
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        if self.ws is None:
            self.sock.close()  # detached: the descriptor is ours to close

    # ----- reading -------------------------------------------------------------------------

    def serve(self) -> None:
        """Read frames until the socket closes (Pinger pings it when the line is quiet)."""
        self.sock.settimeout(None)
        Pinger.watch(self)
        buffer = read_buffer if under_gevent() else bytearray(65536)  # threads must not share it
        while not self.closed:
            try:
                size = self.sock.recv_into(buffer)
            except OSError:
                break
            if not size:
                break
            self._received(buffer[:size])
            self._handle_events()
        self.abort()

    def _received(self, data: bytearray) -> None:
        """Take bytes read (a copy: the buffer is read into again) into wsproto's parser."""
        self.heard_at, self.pinged_at = time.monotonic(), None  # any traffic shows the peer is alive
        self.protocol.receive_data(data)

    def _handle_events(self) -> None:
        for event in self.protocol.events():
            if not self._handle(event):
                return

    def serve_detached(self, on_end) -> None:
        """Read frames as they come, with no greenlet while the socket is idle: a watcher on the
        descriptor takes what arrived and starts a greenlet to handle it, reading no more until
        that is done (so a flooding peer is read only as fast as it is served). on_end() runs in
        a greenlet of its own, once, after the socket closed."""
        self._on_end = on_end
        self._reader = gevent.get_hub().loop.io(self._raw.fileno(), 1)
        self._reader.start(self._readable)
        Pinger.watch(self)

    def _readable(self) -> None:
        # In the event loop itself: no waiting here, nor anything that could.
        try:
            size = self._raw.recv_into(read_buffer)
        except BlockingIOError:
            return
        except OSError:
            size = 0
        self._reader.stop()
        if size:
            self._received(read_buffer[:size])
        self._working = True
        gevent.spawn_raw(self._handle_read, bool(size))

    def _handle_read(self, more: bool) -> None:
        try:
            if more:
                self._handle_events()
        except Exception:
            log.exception("socket.read_failed")
            more = False
        finally:
            self._working = False
        if more and not self.closed:
            self._reader.start(self._readable)
        else:
            self.abort()
            self._ended()

    def _ended(self) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end()

    def check_alive(self, now: float) -> None:
        """Pinger's call: ping after an interval of quiet; cut after another without an answer;
        and a heartbeat when nothing was written for a heartbeat interval."""
        if self.closed:
            Pinger.forget(self)
            return
        if self.pinged_at is not None:
            if now - self.pinged_at >= self.ping_interval:
                self.abort()  # no answer for a whole interval: the peer is gone
                return
        elif now - self.heard_at >= self.ping_interval:
            self.pinged_at = now
            self.write(ping_frame())
            if self.on_ping:
                self.on_ping()
        if self.heartbeat_interval and now - self.written_at >= self.heartbeat_interval:
            self.write(HEARTBEAT)

    def pace(self, frames: float = 1) -> bool:
        """Take `frames` tokens, waiting for them once the peer has used its burst; False if closed meanwhile.

        Work a frame asks for beyond one frame's worth (a replay page) is charged here too.
        """
        if not self.frames_per_second:
            return not self.closed
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self.frames_per_second)
        self._refilled = now
        if self._tokens < frames:
            gevent.sleep((frames - self._tokens) / self.frames_per_second)
            self._tokens, self._refilled = float(frames), time.monotonic()
        self._tokens -= frames
        return not self.closed

    def _handle(self, event) -> bool:
        if isinstance(event, TextMessage):
            self._incoming_size += len(event.data)
            self._incoming_frames += event.frame_finished
            if self._incoming_size > self.max_message_size or self._incoming_frames > MAX_FRAGMENTS:
                self.close(MESSAGE_TOO_BIG, "message too big")
                return False
            self._incoming.append(event.data)
            if event.message_finished:
                text = "".join(self._incoming)
                self._incoming.clear()
                self._incoming_size = self._incoming_frames = 0
                if self.pace():
                    self.on_text(text)
            elif event.frame_finished and not self.pace():
                return False
            return not self.closed
        if isinstance(event, BytesMessage):
            self.close(UNSUPPORTED_DATA, "binary frames are not accepted")
            return False
        if isinstance(event, Ping):
            if not self.pace():
                return False
            self.write(pong_frame(event.payload))
            return True
        if isinstance(event, Pong):
            return True
        if isinstance(event, CloseConnection):
            # wsproto reports a malformed frame (bad UTF-8, bad opcode) as a close with its code.
            code = event.code if event.code not in (1005, 1006) else 1000
            self.close(code, "")
            return False
        return True
