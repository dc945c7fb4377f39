"""Who follows which thread and how far they have read it: the Threads view's unread state.

You follow a thread you started (from its first reply), replied to or were mentioned in, and any
thread you choose to; an unfollow holds until you reply or are mentioned there again. A reply
kept in its thread counts as unread for its followers, not in the channel's unread count; a
mention in it counts in the Threads badge's "@".

Contract: follow_on_reply runs in the reply's transaction (core/messaging.py, record_reply);
everything that moves a follower's state publishes their Threads badge to their own channel
after the commit, so every tab and device shows the same counts.
"""
from flask import render_template
from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import Membership, Mention, Message, ThreadFollow
from ..realtime.hub import user_channel
from .broadcasts import current_hub

_follows = ThreadFollow.__table__


def _upsert(rows: list[dict], *, refollow: bool) -> None:
    """Insert follow rows; for a row already there, refollow=True follows again (a reply, a
    mention), refollow=False leaves it as it is (the author of a thread that got its first reply)."""
    if not rows:
        return
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_follows).values(rows)
    if refollow:
        statement = statement.on_conflict_do_update(index_elements=["user_id", "thread_id"],
                                                    set_={"following": True})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["user_id", "thread_id"])
    db.session.execute(statement)


def follow_on_reply(reply: Message, parent: Message, mentioned_ids: list[int], before: int) -> None:
    """In the reply's transaction: its author follows the thread and has read it up to the reply;
    the members it mentions follow it from this reply on, and the parent's author from its first
    reply unless they unfollowed (before: the thread's newest reply before this one, or 0)."""
    row = {"thread_id": parent.id, "chat_id": parent.chat_id, "following": True}
    if reply.author_id is not None:
        _upsert([{**row, "user_id": reply.author_id, "last_read_id": reply.id}], refollow=True)
        db.session.execute(update(ThreadFollow).where(ThreadFollow.user_id == reply.author_id,
                                                     ThreadFollow.thread_id == parent.id,
                                                     ThreadFollow.last_read_id < reply.id)
                           .values(last_read_id=reply.id))
    others = [i for i in dict.fromkeys(mentioned_ids) if i != reply.author_id]
    _upsert([{**row, "user_id": i, "last_read_id": before} for i in others], refollow=True)
    if parent.author_id is not None and parent.author_id != reply.author_id and parent.author_id not in others:
        _upsert([{**row, "user_id": parent.author_id, "last_read_id": before}], refollow=False)


def followers(thread_id: int) -> list[int]:
    """The people following the thread who are still members of its chat."""
    return list(db.session.scalars(
        select(ThreadFollow.user_id).join(Membership, and_(Membership.chat_id == ThreadFollow.chat_id,
                                                          Membership.user_id == ThreadFollow.user_id))
        .where(ThreadFollow.thread_id == thread_id, ThreadFollow.following)))


def announce_reply(reply: Message, parent: Message) -> None:
    """After the reply's commit: each follower but its author gets their new Threads badge. (Who
    is notified of it, and how, is the notifier's: core/notifications.py.)"""
    for user_id in followers(parent.id):
        if user_id != reply.author_id:
            publish_badge(user_id)


def unread_threads(user_id: int) -> tuple[int, int]:
    """(followed threads with replies the user has not read, unread replies that mention them)."""
    threads, mentions = db.session.execute(_UNREAD_THREADS, {"user": user_id}).one()
    return threads or 0, mentions or 0


def _unread_threads_statement():
    # One statement, built once: every socket's "view" and every chat-list poll asks, and building
    # it (two counts over one subquery) cost more than running it.
    user = bindparam("user")
    followed = (select(ThreadFollow.thread_id, ThreadFollow.last_read_id)
                .join(Membership, and_(Membership.chat_id == ThreadFollow.chat_id,
                                       Membership.user_id == ThreadFollow.user_id))
                .where(ThreadFollow.user_id == user, ThreadFollow.following).subquery())
    threads = (select(func.count()).select_from(followed).join(Message, Message.id == followed.c.thread_id)
               .where(Message.last_reply_id > followed.c.last_read_id).scalar_subquery())
    mentions = (select(func.count()).select_from(Mention).join(followed, followed.c.thread_id == Mention.thread_id)
                .where(Mention.user_id == user, Mention.thread_id.is_not(None),
                       Mention.message_id > followed.c.last_read_id).scalar_subquery())
    return select(threads, mentions)


_UNREAD_THREADS = _unread_threads_statement()


def render_badge(user_id: int, oob: bool = False) -> str:
    """The Threads link's badge: followed threads with unread replies, and "@" for mentions."""
    threads, mentions = unread_threads(user_id)
    return render_template("threads/_badge.html", count=threads, mentions=mentions, oob=oob)


def publish_badge(user_id: int, also: str = "") -> None:
    """Every tab and device of the user shows their new Threads badge (after commit); also: more
    of the same frame for them."""
    current_hub().publish(user_channel(user_id), render_badge(user_id, oob=True) + also)


def follow_state(user_id: int, thread_id: int) -> ThreadFollow | None:
    """The user's follow row of the thread (following or unfollowed), None when they never had one."""
    return db.session.get(ThreadFollow, (user_id, thread_id))


def is_following(row: ThreadFollow | None) -> bool:
    return bool(row and row.following)


def render_follow_button(parent: Message, following: bool, oob: bool = False) -> str:
    """The thread pane's Follow / Unfollow button as one user sees it (published to their own
    channel only: oob, without the form's CSRF field, which htmx's header carries)."""
    return render_template("threads/_follow_button.html", parent=parent, following=following, oob=oob)


def set_following(user_id: int, parent: Message, following: bool) -> None:
    """Follow or unfollow a thread. Followed by choice, it counts as read up to now (the person is
    looking at it); an unfollow holds until they reply or are mentioned there (follow_on_reply).
    Every tab of theirs gets the new button and badge."""
    row = follow_state(user_id, parent.id)
    if row is None:
        db.session.add(ThreadFollow(user_id=user_id, thread_id=parent.id, chat_id=parent.chat_id,
                                    following=following, last_read_id=parent.last_reply_id))
    else:
        row.following = following
        if following:
            row.last_read_id = max(row.last_read_id, parent.last_reply_id)
    db.session.commit()
    publish_badge(user_id, also=render_follow_button(parent, following, oob=True))


def mark_read(user_id: int, parent: Message, upto: int) -> bool:
    """The user has read the thread up to reply id upto (never back, never past its newest reply):
    their tabs get the new badge. False when nothing moved (or they do not follow it)."""
    target = min(upto, parent.last_reply_id)
    moved = db.session.execute(
        update(ThreadFollow).where(ThreadFollow.user_id == user_id, ThreadFollow.thread_id == parent.id,
                                   ThreadFollow.last_read_id < target)
        .values(last_read_id=target)).rowcount
    db.session.commit()
    if moved:
        publish_badge(user_id)
    return bool(moved)
