"""How presence reads to one viewer: "online", "last seen 5 min ago", or "last seen recently"."""
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from ..models import User


@dataclass
class PresenceView:
    state: str  # "online", "offline" or "hidden"
    last_seen: datetime | None
    words: str


def last_seen_words(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "offline"
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    minutes = int(((now or datetime.now(UTC)) - when).total_seconds() // 60)
    if minutes < 1:
        return "last seen just now"
    if minutes < 60:
        return f"last seen {minutes} min ago"
    if minutes < 48 * 60:
        return f"last seen {minutes // 60} h ago"
    return f"last seen {when:%b %d}"


class Presence:
    """The viewer's view of the presence of the people on a page (one query to the live state)."""

    def __init__(self, viewer: User, people) -> None:
        self.viewer_hides = viewer.hide_presence
        ids = {p.id for p in people}
        self.online = current_app.extensions["webchat.live_state"].online(ids) if ids else set()

    def of(self, who: User) -> PresenceView:
        # Fair privacy: someone who hides their own presence sees nobody else's either.
        if who.hide_presence or self.viewer_hides:
            return PresenceView("hidden", None, "last seen recently")
        if who.id in self.online:
            return PresenceView("online", None, "online")
        return PresenceView("offline", who.last_seen_at, last_seen_words(who.last_seen_at))
