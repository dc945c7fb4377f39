"""Quote-replies: a channel message that answers another with a compact preview of it
(chats/_quote.html, which shows the original as it is now; core/changes.py re-renders the quotes
when it is edited or deleted). Which messages may be quoted is messaging.answering(QUOTE), the
one rule for sending and for the composer's preview alike.
"""
from ..models import Membership, Message
from .errors import ChatError
from .messaging import QUOTE, answering
from .read_only import check_writable


def quote_for(membership: Membership, message_id: int) -> Message:
    """The message the member's next send will quote (the composer's preview); ChatError when
    the chat is read-only or the message may not be quoted (answering)."""
    check_writable(membership.chat)
    return answering(membership.chat_id, message_id, QUOTE)


def quotable(chat_id: int, message_id: int | None) -> Message | None:
    """The message a refused send was quoting, to keep in the composer with the text; None when
    there was none, or it may not be quoted (the refusal says why)."""
    if message_id is None:
        return None
    try:
        return answering(chat_id, message_id, QUOTE)
    except ChatError:
        return None
