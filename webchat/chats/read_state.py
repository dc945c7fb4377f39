"""How far each member has received and read a chat, and who is told when that moves."""
from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import Membership, Message
from ..realtime import signals


def unread_count(membership: Membership) -> int:
    """Others' messages after the member's read marker (system events don't count)."""
    return db.session.scalar(
        select(func.count()).select_from(Message).where(
            Message.chat_id == membership.chat_id, Message.id > membership.last_read_message_id,
            Message.kind == "user",
            or_(Message.author_id != membership.user_id, Message.author_id.is_(None)))
    ) or 0


def advance_read(membership: Membership, upto: int) -> bool:
    """Move the read marker forward (never back, never past the chat's newest message).

    Every tab and device of the member gets the new unread count; the chat's members get
    fresh receipts unless this member keeps their reading private.
    """
    upto = min(upto, membership.chat.last_message_id)
    if upto <= membership.last_read_message_id:
        return False
    membership.last_read_message_id = upto
    membership.last_delivered_message_id = max(membership.last_delivered_message_id, upto)
    db.session.commit()
    signals.publish_unread(membership.user_id, membership.chat_id, unread_count(membership))
    if membership.user.send_read_receipts:
        signals.publish_receipts_soon(membership.chat_id)
    return True


def advance_delivered(membership: Membership, upto: int) -> bool:
    """Record that messages up to `upto` reached one of the member's open pages."""
    upto = min(upto, membership.chat.last_message_id)
    if upto <= membership.last_delivered_message_id:
        return False
    membership.last_delivered_message_id = upto
    db.session.commit()
    if membership.user.send_read_receipts:
        signals.publish_receipts_soon(membership.chat_id)
    return True
