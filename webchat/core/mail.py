"""E-mail: the SMTP sender, missed-message e-mails and their one-click unsubscribe."""
from ..models import Notification


def send_notifications(rows: list[Notification]) -> dict[int, str]:
    """One e-mail per person for their claimed e-mail rows still unread; the outcome of each row."""
    raise NotImplementedError  # issue 24: filled in by the e-mail work
