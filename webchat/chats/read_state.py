"""How far each member has received and read a chat, and who is told when that moves.

Pages report reads and deliveries for every message they show, so in a big room these run
once per member per burst: each is one conditional UPDATE (no load of the membership) and
does nothing more when the marker does not move.
"""
from sqlalchemy import case, func, or_, select, update

from ..extensions import db
from ..models import Chat, Membership, Message, User
from ..realtime import signals
from .messaging import MAX_ID


def unread_count(chat_id: int, user_id: int, read_upto: int) -> int:
    """Others' messages after the member's read marker (system events don't count)."""
    return db.session.scalar(
        select(func.count()).select_from(Message).where(
            Message.chat_id == chat_id, Message.id > read_upto, Message.kind == "user",
            or_(Message.author_id != user_id, Message.author_id.is_(None)))
    ) or 0


def _least(a, b):
    return case((a < b, a), else_=b)


def _greatest(a, b):
    return case((a > b, a), else_=b)




def _advance(chat_id: int, user_id: int, upto: int, *, read: bool) -> bool:
    """Move the marker(s) forward, never back and never past the chat's newest message."""
    upto = min(upto, MAX_ID)  # before PostgreSQL would refuse it as out of range
    newest = select(Chat.last_message_id).where(Chat.id == chat_id).scalar_subquery()
    marker = Membership.last_read_message_id if read else Membership.last_delivered_message_id
    target = _least(upto, newest)
    values = {marker: target}
    if read:  # what was read was delivered too
        values[Membership.last_delivered_message_id] = _greatest(Membership.last_delivered_message_id, target)
    moved = db.session.execute(
        update(Membership)
        .where(Membership.chat_id == chat_id, Membership.user_id == user_id, marker < target)
        .values(values)
    ).rowcount
    db.session.commit()
    return bool(moved)


def _shares_receipts(user_id: int) -> bool:
    return bool(db.session.scalar(select(User.send_read_receipts).where(User.id == user_id)))


def advance_read(chat_id: int, user_id: int, upto: int) -> bool:
    """Every tab and device of the member gets the new unread count; the chat's members get
    fresh receipts unless this member keeps their reading private."""
    if not _advance(chat_id, user_id, upto, read=True):
        return False
    read_upto = db.session.scalar(select(Membership.last_read_message_id).where(
        Membership.chat_id == chat_id, Membership.user_id == user_id)) or 0
    signals.publish_unread(user_id, chat_id, unread_count(chat_id, user_id, read_upto))
    if _shares_receipts(user_id):
        signals.publish_receipts_soon(chat_id)
    return True


def advance_delivered(chat_id: int, user_id: int, upto: int) -> bool:
    """Record that messages up to `upto` reached one of the member's open pages."""
    if not _advance(chat_id, user_id, upto, read=False):
        return False
    if _shares_receipts(user_id):
        signals.publish_receipts_soon(chat_id)
    return True
