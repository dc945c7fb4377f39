"""Publishing what the core changed: each thing rendered once by its one partial, the string
handed to the hub (as Campfire's model broadcasts do).

Contract: called after commit; the hub only moves the strings. Presence and receipts go to
the chat channels concerned (only members are subscribed), unread counts to the user's own
channel, commands for a user's sockets to their control channel (publish_control).
"""
from datetime import UTC, datetime

import gevent
from flask import current_app, render_template
from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Membership, User
from ..realtime.hub import Hub, chat_channel, control_channel, user_channel
from . import program_events

PRESENCE_GRACE_SECONDS = 5  # a reload reconnects within this, so nobody flickers offline
# Presence goes live to direct chats and to groups up to this size. In bigger rooms every member
# coming online would be told to every other (N² frames in a reconnect storm); there the member
# list shows presence as of when it is opened.
PRESENCE_LIVE_MAX_MEMBERS = 100
RECEIPTS_EVERY_SECONDS = 1.0  # at most one receipts update per chat per second (per worker)
RECEIPT_NAMES = 50

_receipts_due: dict[int, gevent.Greenlet] = {}
_offline_due: dict[int, gevent.Greenlet] = {}  # per user: the grace timer of their latest closed tab


def current_hub() -> Hub:
    """The app's hub (in-process or Redis, chosen in create_app)."""
    return current_app.extensions["webchat.hub"]


def live_state():
    return current_app.extensions["webchat.live_state"]


def publish_control(user_ids, command: str) -> None:
    """Tell the sockets of these users to act (after commit): e.g. "memberships" to re-subscribe."""
    hub = current_hub()
    for user_id in set(user_ids):
        hub.publish(control_channel(user_id), command)


def presence_chat_ids(user_id: int) -> list[int]:
    """The user's chats small enough to carry live presence."""
    return list(db.session.scalars(_PRESENCE_CHATS, {"user": user_id}))


# Those without a member past the limit, probed in the (chat_id, user_id) index: a big room costs
# the limit's rows, not a count of all its members (every socket open asks). Built once: made
# per call, the aliased statement cost more than SQLite's work.
_other = aliased(Membership)
_PRESENCE_CHATS = select(Membership.chat_id).where(
    Membership.user_id == bindparam("user"),
    ~select(_other.id).where(_other.chat_id == Membership.chat_id).limit(1).offset(PRESENCE_LIVE_MAX_MEMBERS).exists())


def publish_presence(user: User, online: bool) -> None:
    html = render_template("realtime/_presence_signal.html", user=user, online=online)
    hub = current_hub()
    for chat_id in presence_chat_ids(user.id):
        hub.publish(chat_channel(chat_id), html)


def went_offline_later(app, user_id: int) -> None:
    """After the grace period, if no tab of the user came back: store last seen and say so.

    The period runs from the user's last tab closing: a later close (in this worker) supersedes
    an earlier one's timer, so closing one tab and reloading the other seconds later is no flicker.
    """
    me = gevent.getcurrent()
    _offline_due[user_id] = me
    try:
        gevent.sleep(PRESENCE_GRACE_SECONDS)
    finally:
        superseded = _offline_due.get(user_id) is not me
        if not superseded:
            del _offline_due[user_id]
    if superseded:
        return
    with app.app_context():
        try:
            if user_id in live_state().online([user_id]):
                return
            user = db.session.get(User, user_id)
            if user is None:
                return
            user.last_seen_at = datetime.now(UTC)
            db.session.commit()
            publish_presence(user, online=False)
        finally:
            db.session.remove()


def typing_place(chat_id: int, thread_id: int | None = None) -> int | str:
    """Where live_state keeps who is typing: the chat, or one of its threads ("5-t40"), whose
    typists show in the thread's pane only (its box is #typing-5-t40)."""
    return chat_id if thread_id is None else f"{chat_id}-t{thread_id}"


def publish_typing(chat_id: int, thread_id: int | None = None) -> None:
    place = typing_place(chat_id, thread_id)
    typists = [who.split("|", 1) for who in live_state().typists(place)]
    html = render_template("realtime/_typing.html", chat_id=place, typists=typists)
    program_events.publish(chat_id, html, lambda: [program_events.typing(chat_id, thread_id, typists)])


def receipt_readers(chat_id: int):
    """Members who share receipts, furthest readers first (bounded: a big room lists the first 50)."""
    return db.session.execute(
        select(User.username, User.display_name, Membership.last_read_message_id,
               Membership.last_delivered_message_id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.chat_id == chat_id, User.send_read_receipts.is_(True))
        .order_by(Membership.last_read_message_id.desc(), Membership.last_delivered_message_id.desc())
        .limit(RECEIPT_NAMES)
    ).all()


def render_receipts(chat_id: int, oob: bool = False) -> str:
    return render_template("chats/_receipts.html", chat_id=chat_id, readers=receipt_readers(chat_id), oob=oob)


def publish_receipts_soon(chat_id: int) -> None:
    """Publish the chat's receipts within a second, once however many reads arrive meanwhile."""
    if chat_id in _receipts_due:
        return
    app = current_app._get_current_object()

    def publish():
        gevent.sleep(RECEIPTS_EVERY_SECONDS)
        _receipts_due.pop(chat_id, None)
        with app.app_context():
            try:
                current_hub().publish(chat_channel(chat_id), render_receipts(chat_id, oob=True))
            finally:
                db.session.remove()

    _receipts_due[chat_id] = gevent.spawn(publish)


def publish_unread(user_id: int, chat_id: int, count: int, mentions: int = 0, upto: int = 0, read: int = 0) -> None:
    """Every tab and device of the user shows the chat's new unread count and "@" (mentions) count,
    as of message id upto and read marker read."""
    html = render_template("realtime/_unread.html", chat_id=chat_id, count=count, upto=upto, read=read, oob=True)
    html += render_template("chats/_mention_badge.html", chat_id=chat_id, count=mentions, upto=upto, read=read,
                            oob=True)
    current_hub().publish(user_channel(user_id), html)
