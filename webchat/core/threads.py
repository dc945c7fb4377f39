"""Threads: a message's replies, shown in a pane beside the chat (or a page of their own), and
the Threads view of the threads one follows.

A reply is a message of its chat with a parent (core/messaging.py stores it, counts it in its
parent's summary and publishes both at once); who follows what is core/following.py. Every
thread URL answers 404 to anyone not in the chat, as the chat's own URLs do.
"""
from dataclasses import dataclass

from sqlalchemy import and_, select

from ..extensions import db
from ..models import Chat, Membership, Message, ThreadFollow, User
from . import following
from .errors import not_found
from .messaging import MAX_ID, with_parts
from .service import membership_or_404

# Replies a thread's pane shows at first (the newest); older ones load above them.
REPLIES_PAGE = 50


def repliers(m: Message) -> list[User]:
    """The last people to reply in m's thread, newest first (its summary's avatars): from the
    session's identity map when they are authors on the page already."""
    people = (db.session.get(User, int(i)) for i in m.thread_repliers.split())
    return [person for person in people if person is not None]


def quoted(m: Message) -> Message | None:
    """The message m quotes (a quote-reply's preview), as it is now: edited or deleted, the
    preview follows it."""
    return db.session.get(Message, m.reply_to_id) if m.reply_to_id else None


def thread_or_404(chat_id: int, user: User, message_id: int) -> tuple[Membership, Message]:
    """The user's membership of the chat and a thread's parent in it; 404 when either is missing,
    or when the message is a reply or a chat event (no thread of its own)."""
    membership = membership_or_404(chat_id, user)
    parent = db.session.get(Message, message_id) if message_id <= MAX_ID else None
    if parent is None or parent.chat_id != chat_id or parent.is_reply or parent.is_system:
        raise not_found()
    return membership, parent


def replies(parent_id: int, after: int = 0, before: int | None = None, limit: int = REPLIES_PAGE) -> list[Message]:
    """Replies of the thread in id order: after id `after`, or the newest `limit` before `before`."""
    query = with_parts(select(Message)).where(Message.thread_id == parent_id)
    if before is not None:
        rows = db.session.scalars(query.where(Message.id < min(before, MAX_ID))
                                  .order_by(Message.id.desc()).limit(limit)).all()
        return list(reversed(rows))
    return list(db.session.scalars(query.where(Message.id > min(after, MAX_ID)).order_by(Message.id).limit(limit)))


def latest_replies(parent_id: int, limit: int = REPLIES_PAGE) -> list[Message]:
    return replies(parent_id, before=MAX_ID, limit=limit)


@dataclass
class FollowedThread:
    parent: Message
    chat: Chat
    unread: int  # replies by others after the follower's read marker
    last_read_id: int
    last_reply: Message | None = None  # the thread's newest reply (none yet: None)


def followed_threads(user: User, limit: int = 100) -> list[FollowedThread]:
    """The threads the user follows in chats they are still in: those with unread replies first,
    then by their newest reply."""
    rows = db.session.execute(
        select(Message, Chat, ThreadFollow.last_read_id)
        .join(ThreadFollow, ThreadFollow.thread_id == Message.id)
        .join(Chat, Chat.id == ThreadFollow.chat_id)
        .join(Membership, and_(Membership.chat_id == ThreadFollow.chat_id, Membership.user_id == user.id))
        .where(ThreadFollow.user_id == user.id, ThreadFollow.following)
        .order_by((Message.last_reply_id > ThreadFollow.last_read_id).desc(), Message.last_reply_id.desc())
        .limit(limit)).all()
    threads = []
    for parent, chat, last_read in rows:
        unread = 0
        if parent.last_reply_id > last_read:
            unread = db.session.scalar(
                select(db.func.count()).select_from(Message).where(
                    Message.thread_id == parent.id, Message.id > last_read, Message.deleted_at.is_(None),
                    Message.author_id != user.id)) or 0
        last = db.session.get(Message, parent.last_reply_id) if parent.last_reply_id else None
        threads.append(FollowedThread(parent, chat, unread, last_read, last))
    return threads


def init_app(app) -> None:
    """The message partial's helpers for threads and quotes."""
    app.jinja_env.globals["thread_repliers"] = repliers
    app.jinja_env.globals["quoted"] = quoted
    app.jinja_env.globals["threads_badge"] = following.render_badge
