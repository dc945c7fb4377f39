"""The hub: publish an already-rendered HTML string to a channel; connections subscribe to channels.

The hub never renders and never touches the database: a message is rendered once, by its
partial, and the same string goes to every subscriber. Channels are "chat:<id>" (a chat's
timeline) and "user:<id>" (one user's dashboard and account events).

InProcessHub serves one process (the embedded default). A Redis implementation with the same
three methods lets several workers and hosts share channels.
"""
import threading
from collections import defaultdict
from typing import Protocol


class Connection(Protocol):
    def deliver(self, payload: str) -> None:
        """Queue payload for this connection; must not block the publisher."""


class Hub(Protocol):
    def publish(self, channel: str, payload: str) -> None: ...
    def subscribe(self, channel: str, connection: Connection) -> None: ...
    def unsubscribe(self, channel: str, connection: Connection) -> None: ...


def chat_channel(chat_id: int) -> str:
    return f"chat:{chat_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


class InProcessHub:
    """Channels held in this process only: right for one worker, wrong for several."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Connection]] = defaultdict(set)
        self._lock = threading.Lock()

    def publish(self, channel: str, payload: str) -> None:
        with self._lock:
            subscribers = tuple(self._subscribers.get(channel, ()))
        for connection in subscribers:
            connection.deliver(payload)

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


def create_hub(app) -> Hub:
    """The hub the configuration asks for."""
    return InProcessHub()
