"""How fast one person may send: one budget per user, spent by every tab, socket and HTTP post.

A script or a stuck key can send hundreds of messages a second; each one is stored and fanned
out to every member. The budget lives in the live state (Redis when REDIS_URL is set, so every
worker and host spends from the same one), counted only for messages that would be stored: a
retry of an already stored client id, or a refused body, costs nothing. While Redis is away
the budget is not enforced rather than refuse every send.
"""
import math
from functools import lru_cache

from flask import current_app
from limits import parse

from .errors import ChatError

TOO_MANY_REQUESTS = 429


@lru_cache(maxsize=4)
def _parsed(limit: str):
    """The limit in the same "N per period" syntax as the login limits, parsed once (6 µs a message)."""
    return parse(limit)


def spend(user_id: int) -> None:
    """Count one message of this user; ChatError (429) when their budget for now is spent."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return
    limit = _parsed(config["SEND_LIMIT"])
    live = current_app.extensions["webchat.live_state"]
    wait = live.spend(f"send:{user_id}", limit.amount, limit.get_expiry())
    if wait:
        seconds = max(1, math.ceil(wait))
        raise ChatError(f"You're sending messages too fast. Wait {seconds} second{'s' if seconds != 1 else ''} "
                        "and send it again — your text is kept.", TOO_MANY_REQUESTS)
