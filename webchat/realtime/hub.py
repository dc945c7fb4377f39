"""The hub: publish an already-rendered string to a channel; connections subscribe to channels.

Contract: the hub moves strings and never renders, reads the database or knows the app (it
imports nothing of webchat outside realtime/). Channels are "chat:<id>", "user:<id>",
"control:<id>" and "program:<id>" (a chat's JSON events, for program sockets only). InProcessHub
serves one process; redis_hub.RedisHub has the same methods for several workers. The app
factory picks one (webchat/__init__.py).
"""
import threading
from collections import defaultdict
from functools import cached_property
from typing import Protocol

from .frames import text_frame


class Delivery:
    """One published payload; its WebSocket frame is built at most once, for all subscribers."""

    __slots__ = ("channel", "text", "__dict__")

    def __init__(self, channel: str, text: str) -> None:
        self.channel = channel
        self.text = text

    @cached_property
    def frame(self) -> bytes:
        return text_frame(self.text)


class Connection(Protocol):
    def deliver(self, delivery: Delivery) -> None:
        """Take delivery for this connection; must never block the publisher."""


class Hub(Protocol):
    def publish(self, channel: str, payload: str) -> None: ...
    def subscribe(self, channel: str, connection: Connection) -> None: ...
    def unsubscribe(self, channel: str, connection: Connection) -> None: ...
    def publish_many(self, publications: list[tuple[str, str]]) -> None: ...
    def listened(self, channel: str) -> bool: ...


def chat_channel(chat_id: int) -> str:
    return f"chat:{chat_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def program_channel(chat_id: int) -> str:
    """A chat's events as JSON, for the sockets of programs (socket/program.py); pages never subscribe."""
    return f"program:{chat_id}"


def control_channel(user_id: int) -> str:
    """Commands for the server side of a user's sockets (re-read memberships, end sessions); never shown."""
    return f"control:{user_id}"


class InProcessHub:
    """Channels held in this process only: right for one worker, wrong for several."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Connection]] = defaultdict(set)
        self._lock = threading.Lock()

    def publish(self, channel: str, payload: str) -> None:
        with self._lock:
            subscribers = tuple(self._subscribers.get(channel, ()))
        if not subscribers:
            return
        delivery = Delivery(channel, payload)
        for connection in subscribers:
            connection.deliver(delivery)

    def publish_many(self, publications: list[tuple[str, str]]) -> None:
        """Several publications, in order (RedisHub sends them in one round trip)."""
        for channel, payload in publications:
            self.publish(channel, payload)

    def listened(self, channel: str) -> bool:
        """Whether anything here is subscribed to the channel: a publisher may skip building a
        payload nobody would get (exact in one process; RedisHub can't know the others')."""
        return channel in self._subscribers

    def subscribe(self, channel: str, connection: Connection) -> None:
        with self._lock:
            self._subscribers[channel].add(connection)

    def unsubscribe(self, channel: str, connection: Connection) -> None:
        with self._lock:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(connection)
                if not subscribers:
                    del self._subscribers[channel]

    def channels(self) -> list[str]:
        """The channels something here is subscribed to (RedisHub subscribes to these in Redis)."""
        with self._lock:
            return list(self._subscribers)

    def connections(self) -> set[Connection]:
        """Every connection subscribed to anything here (to ask them all to resync)."""
        with self._lock:
            return set().union(*self._subscribers.values()) if self._subscribers else set()
