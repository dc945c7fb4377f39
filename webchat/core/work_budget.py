"""How much work one person may make the server do: one budget per user over all their tabs,
sockets and HTTP requests, in units of one frame (a replayed message costs 1/MESSAGES_PER_UNIT,
every CHARS_PER_UNIT rendered one more).

Contract: socket frames wait while it is spent, HTTP requests get RetryLater (429, retry_after).
Counted in this worker first; with Redis every SETTLE_UNITS are settled in a bucket all
workers share (docs/architecture.md, "Work budget").
"""
import contextlib
import math
import time

from flask import current_app
from gevent.lock import Semaphore

from ..realtime.live_state import WorkLedger
from .errors import ChatError

MESSAGES_PER_UNIT = 20
CHARS_PER_UNIT = 16 * 1024
SETTLE_UNITS = 10
TOO_MANY_REQUESTS = 429


def cost(frames: float = 0, messages: int = 0, chars: int = 0) -> float:
    """The units of work of frames handled, messages (or changes) rendered and characters sent."""
    return frames + messages / MESSAGES_PER_UNIT + chars / CHARS_PER_UNIT


class WorkBudget:
    """Every user's budget as seen by this worker (and, when `live` is shared, by all of them)."""

    def __init__(self, live, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.local = WorkLedger()
        self.shared = live if getattr(live, "shared", False) else None
        self._unsettled: dict[int, float] = {}  # user -> units counted here, not yet in Redis
        self._shared_wait_until: dict[int, float] = {}  # user -> until when Redis said to wait
        self._turns: dict[int, Semaphore] = {}  # user -> held while one of their catch-ups runs here

    @contextlib.contextmanager
    def turn(self, user_id: int):
        """One catch-up of a user at a time in this worker: the budget bounds their rate, this what
        stands between a turn of the loop and everyone else's (49 sockets replaying at once
        would otherwise put 49 pages of rendering ahead of every other request)."""
        turn = self._turns.get(user_id)
        if turn is None:
            turn = self._turns[user_id] = Semaphore()
        try:
            with turn:
                yield
        finally:
            if not turn.locked() and not turn.linkcount() and self._turns.get(user_id) is turn:
                del self._turns[user_id]

    def charge(self, user_id: int, units: float) -> float:
        """Take units of work done (or about to be); the seconds to wait before doing more."""
        if not self.rate or not units:
            return 0.0
        wait = self.local.spend(user_id, units, self.rate, self.burst)
        if self.shared is None:
            return wait
        now = time.monotonic()
        owed = self._unsettled.pop(user_id, 0.0) + units
        if owed >= SETTLE_UNITS:
            shared_wait = self.shared.spend_work(f"user:{user_id}", owed, self.rate, self.burst)
            if len(self._shared_wait_until) > 10_000:  # forget waits that are over now and then
                self._shared_wait_until = {u: t for u, t in self._shared_wait_until.items() if t > now}
            self._shared_wait_until[user_id] = now + shared_wait
        else:
            self._unsettled[user_id] = owed
        return max(wait, self._shared_wait_until.get(user_id, 0.0) - now)

    def wait_before(self, user_id: int, units: float) -> float:
        """The seconds until `units` more would be within budget; nothing is taken."""
        if not self.rate:
            return 0.0
        wait = self.local.wait(user_id, units, self.rate, self.burst)
        if self.shared is not None:
            wait = max(wait, self._shared_wait_until.get(user_id, 0.0) - time.monotonic())
        return wait


def create_work_budget(app) -> WorkBudget:
    rate = app.config["WORK_PER_SECOND"] if app.config.get("RATELIMIT_ENABLED", True) else 0
    return WorkBudget(app.extensions["webchat.live_state"], rate, app.config["WORK_BURST"])


def current_budget() -> WorkBudget:
    return current_app.extensions["webchat.work_budget"]


def spend_request(user_id: int, units: float = 1) -> None:
    """Count an HTTP request's work before doing it; ChatError (429) when the user's budget is
    spent, saying how long to wait (nothing is taken then: a refusal costs little)."""
    budget = current_budget()
    wait = budget.wait_before(user_id, units)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RetryLater(f"You're asking webchat for a lot at once. It will catch up in {seconds} "
                         f"second{'s' if seconds != 1 else ''}; nothing is lost meanwhile.", seconds)
    budget.charge(user_id, units)


class RetryLater(ChatError):
    """A 429 with the seconds to wait (for a Retry-After header)."""

    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message, TOO_MANY_REQUESTS, retry_after=seconds)
