"""Web Push (RFC 8030, 8291, 8292): VAPID keys, subscriptions, and sending (core/notifier.py)."""
from ..models import Notification


def send_notifications(rows: list[Notification]) -> dict[int, str]:
    """Send each claimed push row to every device of its person; the outcome of each row."""
    raise NotImplementedError  # issue 24: filled in by the push work
