"""The hub: publish an already-rendered HTML string to a channel; connections subscribe to channels.

The hub never renders and never touches the database: a message is rendered once, by its
partial, and the same string goes to every subscriber. Channels are "chat:<id>" (a chat's
timeline) and "user:<id>" (one user's dashboard and account events).

InProcessHub serves one process (the embedded default). A Redis implementation with the same
three methods lets several workers and hosts share channels.
"""
import threading
from collections import defaultdict
from functools import cached_property
from typing import Protocol

from flask import current_app

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


def chat_channel(chat_id: int) -> str:
    return f"chat:{chat_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


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

    def connections(self) -> set[Connection]:
        """Every connection subscribed to anything here (to ask them all to resync)."""
        with self._lock:
            return set().union(*self._subscribers.values()) if self._subscribers else set()


def create_hub(app) -> Hub:
    """Redis when REDIS_URL is set (several workers or hosts), else this process only."""
    if app.config.get("REDIS_URL"):
        from .redis_hub import RedisHub

        return RedisHub(app.config["REDIS_URL"])
    return InProcessHub()


def current_hub() -> Hub:
    return current_app.extensions["webchat.hub"]


def publish_control(user_ids, command: str) -> None:
    """Tell the sockets of these users to act (after commit): e.g. "memberships" to re-subscribe."""
    hub = current_hub()
    for user_id in set(user_ids):
        hub.publish(control_channel(user_id), command)
