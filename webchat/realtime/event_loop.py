"""What every socket of a worker shares in gevent's event loop: the flush at the end of each turn,
one read buffer, and one pinger.
"""
import logging
import time
from typing import TYPE_CHECKING

import gevent

if TYPE_CHECKING:
    from .connection import SocketConnection

log = logging.getLogger(__name__)

# Frames written during one turn of gevent's loop go out together at its end, one send() per
# socket: when several messages are stored in one turn (senders whose frames arrived together),
# each socket gets them in one system call instead of one call each. At low rates each turn
# carries one frame and nothing changes; the delay is the rest of the turn, not a timer.
_dirty: list["SocketConnection"] = []
# Under gevent every socket reads into this one buffer (nothing else runs between a read and the
# copy handed to wsproto): no 64 KiB allocation per read.
read_buffer = bytearray(65536)
_under_gevent: bool | None = None


def under_gevent() -> bool:
    """Whether this worker runs under gevent. A threaded development server writes at once and
    reads in each socket's thread, with a buffer of its own."""
    global _under_gevent
    if _under_gevent is None:
        from gevent import monkey

        _under_gevent = monkey.is_module_patched("socket")
    return _under_gevent


def schedule_flush(connection: "SocketConnection") -> None:
    if not _dirty:
        gevent.get_hub().loop.run_callback(_flush_all)
    _dirty.append(connection)


def _flush_all() -> None:
    while _dirty:
        batch = _dirty[:]
        _dirty.clear()
        for connection in batch:
            connection.flush()


class Pinger:
    """One greenlet per process and tick keeps every quiet socket alive, instead of a timeout on
    each socket's every read (a timer, a Timeout and its exception per socket, and their CPU on
    every frame). A socket quiet for an interval is pinged; one that stays quiet for another is
    cut (its page reconnects); one sent nothing for a heartbeat interval is sent a heartbeat.
    Checked every quarter of the shorter interval."""

    _by_tick: dict[float, "Pinger"] = {}

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.connections: set[SocketConnection] = set()
        self._greenlet = None

    @staticmethod
    def _tick(connection: "SocketConnection") -> float:
        return min(connection.ping_interval, connection.heartbeat_interval or connection.ping_interval) / 4

    @classmethod
    def watch(cls, connection: "SocketConnection") -> None:
        tick = cls._tick(connection)
        pinger = cls._by_tick.get(tick)
        if pinger is None:
            pinger = cls._by_tick[tick] = cls(tick)
        pinger.connections.add(connection)
        if pinger._greenlet is None or pinger._greenlet.dead:
            pinger._greenlet = gevent.spawn(pinger._run)

    @classmethod
    def forget(cls, connection: "SocketConnection") -> None:
        pinger = cls._by_tick.get(cls._tick(connection))
        if pinger is not None:
            pinger.connections.discard(connection)

    def _run(self) -> None:
        while self.connections:
            gevent.sleep(self.tick)
            now = time.monotonic()
            for connection in list(self.connections):
                try:
                    connection.check_alive(now)
                except Exception:  # one socket's presence renewal failing must not stop the pings
                    log.exception("socket.ping_failed")
