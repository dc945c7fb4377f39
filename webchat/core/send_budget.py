"""How fast one person may act: named budgets per user, spent by every tab, socket and HTTP post.

Each kind of act (send, react, create chat, add members, ...) spends from a budget of its own,
kept in the live state (Redis when REDIS_URL is set: one budget over every worker). Invariants:
only what would be stored is counted (a repeat or a refusal is free); a spent budget raises
ChatError 429; while Redis is away budgets are not enforced (README, "Hostile clients").
"""
import math
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from limits import parse_many

from .errors import ChatError

TOO_MANY_REQUESTS = 429


@dataclass(frozen=True)
class Budget:
    setting: str  # the config key: "N per period", or several joined by ";" (all must allow)
    key: str  # budgets with the same key spend from one count
    refusal: str  # what the person reads; {wait} becomes "3 seconds", "12 minutes"…


SEND = Budget("SEND_LIMIT", "send",
              "You're sending messages too fast. Wait {wait} and send it again — your text is kept.")
EDIT = Budget("SEND_LIMIT", "send",
              "You're sending and editing too fast. Wait {wait} and save it again — your text is kept.")
RENAME = Budget("SEND_LIMIT", "send",
                "You're renaming too fast: every rename is a message to everyone in the chat. "
                "Wait {wait} and try again. Nothing was changed.")
JOIN = Budget("SEND_LIMIT", "send",
              "You're joining channels too fast: every join is a message to everyone in the channel. "
              "Wait {wait} and try again. Nothing was changed.")
REACT = Budget("REACTION_LIMIT", "react", "You're reacting too fast. Wait {wait} and react again.")
CREATE_CHAT = Budget("CHAT_CREATE_LIMIT", "chats",
                     "You're creating chats too fast. Wait {wait} before starting another. Nothing was changed.")
ADD_MEMBERS = Budget("MEMBER_ADD_LIMIT", "adds",
                     "You're adding people to chats too fast. Wait {wait} and try again. Nothing was changed.")
PUT_INTO = Budget("PUT_INTO_CHATS_LIMIT", "into",
                  "You've added {name} to {count} chats within the hour. Wait {wait} before adding them to another. "
                  "Nothing was changed.")
LOOKUP = Budget("USERNAME_LOOKUP_LIMIT", "lookups",
                "You've tried too many usernames that match no one you can find. Wait {wait} and try again. "
                "Nothing was changed.")


@lru_cache(maxsize=16)
def _parsed(limits: str):
    """The limits in the same "N per period" syntax as the login limits, parsed once, not per message."""
    return tuple(parse_many(limits))


def spend(user_id: int, budget: Budget = SEND, amount: int = 1, about: int | None = None, **words) -> None:
    """Count `amount` uses of the user's budget (about: one budget per other user, e.g. a person
    being added); ChatError (429) when any of its limits is spent for now. words fill the refusal."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True) or amount <= 0:
        return
    limits = _parsed(config[budget.setting])
    live = current_app.extensions["webchat.live_state"]
    wait = 0.0
    for window_key, limit in _windows(limits, budget, user_id, about):
        wait = max(wait, live.spend(window_key, limit.amount, limit.get_expiry(), amount))
    if wait:
        count = min(limit.amount for limit in limits)
        raise ChatError(budget.refusal.format(wait=wait_phrase(wait), count=count, **words), TOO_MANY_REQUESTS,
                        retry_after=max(1, math.ceil(wait)))


def refund(user_id: int, budget: Budget = SEND, amount: int = 1) -> None:
    """Give back `amount` uses spent on an act that then was not stored (a send found to be a
    repeat or refused only after spending: core/messaging.py, send_alone): free, as spend's are."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True) or amount <= 0:
        return
    limits = _parsed(config[budget.setting])
    live = current_app.extensions["webchat.live_state"]
    for window_key, limit in _windows(limits, budget, user_id, None):
        live.spend(window_key, limit.amount, limit.get_expiry(), -amount)


def _windows(limits, budget: Budget, user_id: int, about: int | None):
    """Each limit's window, with the key it counts on: the first keeps the plain key (send:<user id>)."""
    key = f"{budget.key}:{user_id}" + (f":{about}" if about is not None else "")
    return [(key if i == 0 else f"{key}:{limit.get_expiry()}", limit) for i, limit in enumerate(limits)]


def wait_phrase(seconds: float) -> str:
    """How long to wait, in the unit a person would say: seconds, then minutes, then hours."""
    if seconds < 120:
        n, unit = math.ceil(seconds), "second"
    elif seconds < 2 * 3600:
        n, unit = math.ceil(seconds / 60), "minute"
    else:
        n, unit = math.ceil(seconds / 3600), "hour"
    n = max(1, n)
    return f"{n} {unit}{'s' if n != 1 else ''}"
