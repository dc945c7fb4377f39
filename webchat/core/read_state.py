"""How far each member has received and read a chat, and who is told when that moves.

Pages report reads and deliveries for every message they show, so in a big room these run
once per member per burst: each is one conditional UPDATE (no load of the membership) and
does nothing more when the marker does not move.
"""
from sqlalchemy import bindparam, case, func, literal, or_, select, update

from ..extensions import db
from ..models import Chat, Membership, Mention, Message, User
from ..templating import UNREAD_SHOWN
from . import broadcasts
from .messaging import IN_CHANNEL, MAX_ID


def _unread_of(user_id) -> tuple:
    """Others' messages after the member's read marker (system events, deleted ones and replies kept
    in threads don't count: those count in the Threads view, core/following.py)."""
    return (Message.chat_id == Membership.chat_id, Message.id > Membership.last_read_message_id,
            Message.kind == "user", Message.deleted_at.is_(None), IN_CHANNEL,
            or_(Message.author_id != user_id, Message.author_id.is_(None)))


def _counted(table, *where):
    """How many rows of table match, per membership row of the outer query, up to UNREAD_SHOWN + 1
    (one more than a badge shows): a reader a million messages behind costs what one a thousand does."""
    rows = (select(literal(1)).select_from(table).where(*where)
            .limit(UNREAD_SHOWN + 1).correlate(Membership).subquery())
    return select(func.count()).select_from(rows).scalar_subquery()


def unread_counts(user_id: int, chat_ids: list[int] | None = None) -> dict[int, tuple[int, int, int, int]]:
    """Per chat of the user's (or of chat_ids): (unread messages, unread ones that mention them,
    the chat's newest message id and the member's read marker as these counts saw them).

    The newest id and the marker are read in the same statement, so from the same snapshot: a
    page that counted a live message after that id adds it to these counts rather than losing it
    to a count made before the message was stored, and a count made before a read (a chat list
    that arrives late) never undoes the read's (see live.js, showCounts).

    One query; each count reads an index from the read marker on ((chat_id, id) of messages,
    (user_id, chat_id, message_id) of mentions) and stops after UNREAD_SHOWN + 1 rows. Mentions
    count whatever the chat's notification level: a muted chat still shows "@1".
    """
    query = _UNREAD_COUNTS if chat_ids is None else _UNREAD_COUNTS.where(Membership.chat_id.in_(chat_ids))
    return {chat_id: (count, mentioned, upto or 0, read or 0)
            for chat_id, count, mentioned, upto, read in db.session.execute(query, {"user": user_id})}


def _unread_counts_statement():
    # Built once (every socket's "view" and every list poll counts): building it per call cost
    # more than SQLite's work for it.
    user = bindparam("user")
    mentions = (Mention.user_id == user, Mention.chat_id == Membership.chat_id,
                Mention.message_id > Membership.last_read_message_id, Mention.thread_id.is_(None))
    newest = select(Chat.last_message_id).where(Chat.id == Membership.chat_id).correlate(Membership).scalar_subquery()
    return (select(Membership.chat_id, _counted(Message, *_unread_of(user)), _counted(Mention, *mentions),
                   newest, Membership.last_read_message_id).where(Membership.user_id == user))


_UNREAD_COUNTS = _unread_counts_statement()


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
    # The marker is committed before anyone is told, so whatever a tab then fetches agrees with
    # the count it was sent. The count is made and published holding the membership row (an
    # UPDATE that changes nothing), so two reads of one member at once (a tab's socket and the
    # chat it opens) publish in turn, each counting from every marker committed before it: an
    # older count never lands after a newer one.
    db.session.execute(update(Membership)
                       .where(Membership.chat_id == chat_id, Membership.user_id == user_id)
                       .values(last_read_message_id=Membership.last_read_message_id))
    counts = unread_counts(user_id, [chat_id])
    if chat_id in counts:  # not if they left the chat meanwhile
        broadcasts.publish_unread(user_id, chat_id, *counts[chat_id])
    db.session.commit()
    if chat_id in counts and _shares_receipts(user_id):
        broadcasts.publish_receipts_soon(chat_id)
    return True


def advance_delivered(chat_id: int, user_id: int, upto: int) -> bool:
    """Record that messages up to `upto` reached one of the member's open pages."""
    if not _advance(chat_id, user_id, upto, read=False):
        return False
    if _shares_receipts(user_id):
        broadcasts.publish_receipts_soon(chat_id)
    return True
