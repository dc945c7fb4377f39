"""Short-lived shared state: who is online, who is typing where, and throttles.

Behind one small interface so several workers can share it (redis_hub.RedisLiveState, with
expiry) while the embedded default keeps it in this process; the app factory picks one.
Nothing here is the source of truth for anything stored: losing it costs a moment of
"typing…" or an online dot, never a message.
"""
import threading
import time
from typing import Protocol


class LiveState(Protocol):
    def tab_opened(self, user_id: int, tab_id: str) -> bool:
        """Record an open tab; True when it is the user's first (they just came online)."""

    def tab_alive(self, user_id: int, tab_id: str) -> bool:
        """Refresh a tab's lease; True when the user had no live tab (the state was lost)."""

    def tab_closed(self, user_id: int, tab_id: str) -> None: ...

    def online(self, user_ids) -> set[int]:
        """Which of these users hold at least one open tab."""

    def set_view(self, user_id: int, tab_id: str, place: str | None) -> None:
        """What a tab shows in view: place is a chat ("5"), a chat with a thread's pane open
        ("5 t40"), "" (a visible tab with no chat open), or None (the tab is hidden or closing).
        A view lapses with the tab's lease unless set again (the tab does on every ping)."""

    def views(self, user_ids) -> dict[int, set[str]]:
        """The places each of these users has in view in a visible tab; a user with no visible
        tab is left out (so: in the answer = active now)."""

    def viewers(self, chat_id: int) -> dict[int, set[str]]:
        """The users with this chat in view in a visible tab, and the places of it they show
        ("5", "5 t40"): views() the other way round, one lookup for a whole chat."""

    def start_typing(self, chat_id: int | str, who: str) -> None:
        """who is "<username>|<display name>"; it expires by itself after TYPING_SECONDS. chat_id
        is where: a chat, or one of its threads ("5-t40", core/broadcasts.typing_place)."""

    def stop_typing(self, chat_id: int | str, who: str) -> bool:
        """True when who was typing."""

    def typists(self, chat_id: int | str) -> list[str]: ...

    def allow(self, key: str, seconds: float) -> bool:
        """True at most once per `seconds` for a key (a throttle)."""

    def spend(self, key: str, budget: int, seconds: float, amount: int = 1) -> float:
        """Count `amount` uses of key in its current window of `seconds`: 0 while within budget,
        else the seconds until the window ends and the budget is whole again."""

    def spend_work(self, key: str, cost: float, rate: float, burst: float) -> float:
        """Take `cost` from a budget refilled at `rate` a second up to `burst`, going into debt if
        need be: 0 while the budget covers it, else the seconds until the debt is repaid (the
        caller waits that long, or refuses; later callers queue behind it)."""


TAB_LEASE_SECONDS = 90  # a tab's worker refreshes it on every ping (25 s); a dead worker's tabs lapse
TYPING_SECONDS = 6  # a receiver's indicator lasts as long; the typist signals every 3 s


def chat_of(place: str | None) -> str | None:
    """The chat a view shows ("5" of "5 t40"), or None (no chat: "" or a hidden tab)."""
    return place.split(" ", 1)[0] if place else None


class InProcessLiveState:
    """State of this process only: right for one worker, wrong for several."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tabs: dict[int, dict[str, float]] = {}
        self._typing: dict[int | str, dict[str, float]] = {}
        self._views: dict[int, dict[str, tuple[str, float]]] = {}  # user -> tab -> (place, lease end)
        self._viewing: dict[str, dict[tuple[int, str], tuple[str, float]]] = {}  # chat -> (user, tab) -> as _views
        self._throttles: dict[str, float] = {}
        self._budgets: dict[str, tuple[int, float]] = {}  # key -> (uses, window end)
        self._work = WorkLedger(clock)

    def _live(self, leases: dict[str, float]) -> dict[str, float]:
        now = self._clock()
        for key in [k for k, until in leases.items() if until <= now]:
            del leases[key]
        return leases

    def tab_opened(self, user_id, tab_id):
        with self._lock:
            tabs = self._live(self._tabs.setdefault(user_id, {}))
            first = not tabs
            tabs[tab_id] = self._clock() + TAB_LEASE_SECONDS
            return first

    def tab_alive(self, user_id, tab_id):
        with self._lock:
            tabs = self._live(self._tabs.setdefault(user_id, {}))
            lost = not tabs
            tabs[tab_id] = self._clock() + TAB_LEASE_SECONDS
            return lost

    def tab_closed(self, user_id, tab_id):
        with self._lock:
            tabs = self._tabs.get(user_id, {})
            tabs.pop(tab_id, None)
            if not tabs:
                self._tabs.pop(user_id, None)
            self._forget_view(user_id, tab_id)

    def online(self, user_ids):
        with self._lock:
            return {u for u in user_ids if self._live(self._tabs.get(u, {}))}

    def set_view(self, user_id, tab_id, place):
        with self._lock:
            if place is None:
                self._forget_view(user_id, tab_id)
                return
            tabs = self._views.setdefault(user_id, {})
            was = tabs.get(tab_id, (None,))[0]
            if chat_of(was) != chat_of(place):
                self._unindex(user_id, tab_id, was)
            tabs[tab_id] = (place, self._clock() + TAB_LEASE_SECONDS)
            if chat_of(place) is not None:
                self._viewing.setdefault(chat_of(place), {})[user_id, tab_id] = tabs[tab_id]

    def _forget_view(self, user_id, tab_id):
        tabs = self._views.get(user_id, {})
        was = tabs.pop(tab_id, (None,))[0]
        if not tabs:
            self._views.pop(user_id, None)
        self._unindex(user_id, tab_id, was)

    def _unindex(self, user_id, tab_id, place):
        viewing = self._viewing.get(chat_of(place))
        if viewing is not None:
            viewing.pop((user_id, tab_id), None)
            if not viewing:
                del self._viewing[chat_of(place)]

    def views(self, user_ids):
        now = self._clock()
        with self._lock:
            answer = {}
            for user_id in user_ids:
                places = {place for place, until in self._views.get(user_id, {}).values() if until > now}
                if places:
                    answer[user_id] = places
            return answer

    def viewers(self, chat_id):
        now = self._clock()
        with self._lock:
            answer: dict[int, set[str]] = {}
            for (user_id, _), (place, until) in self._viewing.get(str(chat_id), {}).items():
                if until > now:
                    if user_id in answer:
                        answer[user_id].add(place)
                    else:
                        answer[user_id] = {place}
            return answer

    def start_typing(self, chat_id, who):
        with self._lock:
            self._typing.setdefault(chat_id, {})[who] = self._clock() + TYPING_SECONDS

    def stop_typing(self, chat_id, who):
        with self._lock:
            return self._typing.get(chat_id, {}).pop(who, None) is not None

    def typists(self, chat_id):
        with self._lock:
            return sorted(self._live(self._typing.get(chat_id, {})))

    def allow(self, key, seconds):
        now = self._clock()
        with self._lock:
            if self._throttles.get(key, 0) > now:
                return False
            self._throttles[key] = now + seconds
            if len(self._throttles) > 100_000:  # forget stale keys now and then
                self._throttles = {k: v for k, v in self._throttles.items() if v > now}
            return True

    def spend(self, key, budget, seconds, amount=1):
        now = self._clock()
        with self._lock:
            used, until = self._budgets.get(key, (0, 0.0))
            if until <= now:
                used, until = 0, now + seconds
                if len(self._budgets) > 100_000:  # forget ended windows now and then
                    self._budgets = {k: v for k, v in self._budgets.items() if v[1] > now}
            self._budgets[key] = (used + amount, until)
            return 0.0 if used + amount <= budget else until - now

    def spend_work(self, key, cost, rate, burst):
        with self._lock:
            return self._work.spend(key, cost, rate, burst)


class WorkLedger:
    """Token buckets kept as the moment each key's budget is whole again (GCRA): one float per
    key, and a cost taken now is repaid at `rate`; what is beyond the burst is waited for."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._whole_at: dict[str, float] = {}

    def spend(self, key: str, cost: float, rate: float, burst: float) -> float:
        now = self._clock()
        whole_at = max(self._whole_at.get(key, now), now) + cost / rate
        if len(self._whole_at) > 100_000:  # forget budgets that are whole again now and then
            self._whole_at = {k: v for k, v in self._whole_at.items() if v > now}
        self._whole_at[key] = whole_at
        return max(0.0, whole_at - now - burst / rate)

    def wait(self, key: str, cost: float, rate: float, burst: float) -> float:
        """What spend() would answer, without spending."""
        now = self._clock()
        return max(0.0, max(self._whole_at.get(key, now), now) + cost / rate - now - burst / rate)
