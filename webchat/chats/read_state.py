"""How far each member has received and read a chat, and who is told when that moves.

Pages report reads and deliveries for every message they show, so in a big room these run
once per member per burst: each is one conditional UPDATE (no load of the membership) and
does nothing more when the marker does not move.
"""
from sqlalchemy import and_, case, func, literal, or_, select, update

from ..extensions import db
from ..models import Chat, Membership, Message, User
from ..realtime import signals
from .messaging import MAX_ID


def unread_count(chat_id: int, user_id: int, read_upto: int) -> int:
    """Others' messages after the member's read marker (system events and deleted messages don't count)."""
    return db.session.scalar(
        select(func.count()).select_from(Message).where(
            Message.chat_id == chat_id, Message.id > read_upto, Message.kind == "user", Message.deleted_at.is_(None),
            or_(Message.author_id != user_id, Message.author_id.is_(None)))
    ) or 0


def _mentions_of(username: str):
    # Message.mentions is space-separated usernames: padded with spaces, " name " matches only a
    # whole name ("bob" never matches "bobby"); autoescape keeps "_" in a name from being a wildcard.
    return (literal(" ") + Message.mentions + literal(" ")).contains(f" {username} ", autoescape=True)


def unread_mention_counts(user_id: int, username: str, chat_ids: list[int] | None = None) -> dict[int, int]:
    """Per chat (of the user's, or of chat_ids): others' unread, not deleted messages that mention them.

    One grouped query; it reads only the messages after each read marker (the chat_id, id index).
    Counted whatever the chat's notification level: a mention in a muted chat still shows "@1".
    """
    query = (
        select(Message.chat_id, func.count())
        .join(Membership, and_(Membership.chat_id == Message.chat_id, Membership.user_id == user_id))
        .where(Message.id > Membership.last_read_message_id, Message.kind == "user",
               or_(Message.author_id != user_id, Message.author_id.is_(None)),
               Message.deleted_at.is_(None), Message.mentions != "", _mentions_of(username))
        .group_by(Message.chat_id)
    )
    if chat_ids is not None:
        query = query.where(Message.chat_id.in_(chat_ids))
    return dict(db.session.execute(query).all())


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
    row = db.session.execute(
        select(Membership.last_read_message_id, User.username).join(User, User.id == Membership.user_id)
        .where(Membership.chat_id == chat_id, Membership.user_id == user_id)).first()
    if row is None:  # they left the chat meanwhile
        return True
    read_upto, username = row
    mentions = unread_mention_counts(user_id, username, [chat_id]).get(chat_id, 0)
    signals.publish_unread(user_id, chat_id, unread_count(chat_id, user_id, read_upto), mentions)
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
