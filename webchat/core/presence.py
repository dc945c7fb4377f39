"""How presence reads to one viewer: "online", "last seen 5 min ago", or "last seen recently"."""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from ..models import User
from ..templating import presence_words


@dataclass
class PresenceView:
    state: str  # "online", "offline" or "hidden"
    last_seen: datetime | None
    words: str


class Presence:
    """The viewer's view of the presence of the people on a page (one query to the live state)."""

    def __init__(self, viewer: User, people) -> None:
        self.viewer_hides = viewer.hide_presence
        ids = {p.id for p in people}
        self.online = current_app.extensions["webchat.live_state"].online(ids) if ids else set()

    def of(self, who: User) -> PresenceView:
        # Fair privacy: someone who hides their own presence sees nobody else's either.
        if who.hide_presence or self.viewer_hides:
            return PresenceView("hidden", None, presence_words("hidden"))
        if who.id in self.online:
            return PresenceView("online", None, presence_words("online"))
        return PresenceView("offline", who.last_seen_at, presence_words("offline", who.last_seen_at))
