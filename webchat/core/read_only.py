"""The one rule every writing door asks: an archived channel is read-only.

Sending (pages, the socket, uploads), editing, deleting, reacting and adding members all call
check_writable before they change anything; core/channels.py archives and unarchives. A module of
its own, below messaging and service, so every one of them can import it.
"""
from ..models import Chat
from .errors import ChatError


def archived_refusal(name: str | None) -> ChatError:
    return ChatError(f"#{name} is archived: it's read-only. Nothing was sent.", 403)


def check_writable(chat: Chat) -> None:
    """ChatError 403 when the chat is archived."""
    if chat.archived_at is not None:
        raise archived_refusal(chat.name)
