"""Changes to stored messages (edits, deletions, reactions) and how a page that was away learns them.

Every change takes the chat's next change number, stored on the message as change_seq; the
chat-row UPDATE that hands it out doubles as the lock that makes a chat's changes commit in
number order (as for new messages). The changed message is rendered again, once, by the one
message partial and published to the chat; a page keeps whichever copy of a message has the
higher number (data-rev). A page that was away sends "changes after N" with its catch-up, as it
sends "messages after id N", and gets every message changed since, newest version only.
"""
import logging
from datetime import timedelta
from typing import NamedTuple

from flask import render_template
from sqlalchemy import bindparam, func, select, update

from ..database import DriverStatement
from ..extensions import db
from ..models import Chat, Membership, Message, User, utcnow
from . import attachments, program_events, send_budget, sessions, workspace
from .errors import ChatError
from .messaging import MAX_ID, record_mentions, render_body, validate_body, with_parts
from .read_only import check_writable

log = logging.getLogger(__name__)

# A page with more changed messages than this to catch up on reloads its view of the chat (the
# newest page of messages, as a fresh load shows it) rather than be sent each one rendered again:
# a busy chat has thousands, and rendering them all at once would hold up everyone on the worker.
RELOAD_AFTER = 500
# Changes caught up on per query and render; between pages the worker serves others.
CATCH_UP_PAGE = 50


THREAD_SUMMARY = ["reply_count", "last_reply_id", "last_reply_at", "thread_repliers"]
# A quote's preview shows the quoted message as it is now (chats/_quote.html), so an edit or a
# deletion changes the messages quoting it too: the newest this many, each as a change of its own.
# Older ones show the new version wherever they are rendered again (a reload, older history).
QUOTES_FOLLOWED = 100


def record_change(message: Message) -> None:
    """Give the message the chat's next change number, in the caller's transaction. Its thread's
    summary is read again under the chat row's lock: a reply counted since the message was loaded
    is in the version published with this number, which pages keep over the reply's."""
    message.change_seq = db.session.scalar(
        update(Chat).where(Chat.id == message.chat_id)
        .values(last_change_seq=Chat.last_change_seq + 1).returning(Chat.last_change_seq))
    if message.thread_id is None and not message.is_system:
        db.session.refresh(message, attribute_names=THREAD_SUMMARY)


def follow_quotes(message: Message) -> list[Message]:
    """The newest messages quoting `message` (broadcast replies quote their parent too), each
    given a change number in the caller's transaction: published with it (announce_change)."""
    quoting = db.session.scalars(
        select(Message).where(Message.chat_id == message.chat_id, Message.reply_to_id == message.id,
                              Message.deleted_at.is_(None))  # a deleted message shows no quote
        .order_by(Message.id.desc()).limit(QUOTES_FOLLOWED)).all()[::-1]
    for quote in quoting:
        record_change(quote)
    return quoting


def render_changes(messages: list[Message], chat_id: int, cursor: int | None = None) -> str:
    """Changed messages wrapped for the page to swap in by id; cursor: the catch-up's new "changes after"."""
    return render_template("chats/_changes.html", messages=messages, chat_id=chat_id, cursor=cursor)


def announce_change(message: Message, quoting: list[Message] = (),
                    event: "program_events.Events | None" = None) -> None:
    """Render the changed message once, with the messages quoting it that changed with it
    (follow_quotes), and publish them to its chat in one frame (after commit); to programs, each
    as message.changed or message.deleted, or event() for the message itself (a reaction)."""
    if quoting:  # read again after the commit, with what the partial shows, in one query each
        db.session.scalars(with_parts(select(Message)).where(Message.id.in_([m.id for m in quoting]))).all()
    program_events.publish(message.chat_id, render_changes([message, *quoting], message.chat_id),
                           lambda: (event() if event else program_events.changed([message]))
                           + program_events.changed(quoting))


def changes_after(chat_id: int, cursor: int, limit: int) -> list[Message]:
    """Messages of the chat changed after change number `cursor`, in change order."""
    return list(db.session.scalars(
        with_parts(select(Message)).where(Message.chat_id == chat_id, Message.change_seq > min(cursor, MAX_ID))
        .order_by(Message.change_seq).limit(limit)))


class CatchUp(NamedTuple):
    html: str  # the changed messages, wrapped (render_changes), or "" when none
    count: int  # how many
    more_from: int | None  # the cursor to ask again from when more are left


def changed_count_after(chat_id: int, cursor: int, limit: int) -> int:
    """How many of the chat's messages changed after change number `cursor`, counting up to `limit`."""
    return db.session.scalar(select(func.count()).select_from(
        select(Message.id).where(Message.chat_id == chat_id, Message.change_seq > min(cursor, MAX_ID))
        .limit(limit).subquery()))


def far_behind(chat_id: int, cursor: int | None) -> bool:
    """More changed messages than a page is sent one by one: it reloads its view instead."""
    return cursor is not None and changed_count_after(chat_id, cursor, RELOAD_AFTER + 1) > RELOAD_AFTER


def catch_up_changes(chat_id: int, cursor: int | None, limit: int) -> CatchUp:
    """One page of the changes a catching-up page asks for, in change order; or, for a page far
    behind, the request to reload its view (counted only when the page is full: no extra query
    for a page that is caught up or nearly)."""
    if cursor is None:
        return CatchUp("", 0, None)
    changed = changes_after(chat_id, cursor, limit)
    if not changed:
        return CatchUp("", 0, None)
    if len(changed) == limit and far_behind(chat_id, cursor):
        return CatchUp(render_reload(chat_id), 0, None)
    newest = changed[-1].change_seq
    return CatchUp(render_changes(changed, chat_id, cursor=newest), len(changed),
                   newest if len(changed) == limit else None)


# Whether the chat has a message after id :after, and its change number, for a live sign-in that
# is one of its members. A message: chats.last_message_id counts the channel's only, so a thread
# reply is found in the (chat_id, id) index, which holds all the probe reads (no message row).
_POLL_STATE = DriverStatement(
    select(select(Message.id).where(Message.chat_id == bindparam("chat"), Message.id > bindparam("after"))
           .exists(),
           Chat.last_change_seq).select_from(sessions.LoginSession)
    .join(User, User.id == sessions.LoginSession.user_id)
    .join(Membership, Membership.user_id == User.id).join(Chat, Chat.id == Membership.chat_id)
    .where(Membership.chat_id == bindparam("chat"),
           sessions.live_sign_in(bindparam("sid"), bindparam("user"), bindparam("token"), bindparam("now"))))


def nothing_new_for(login_id: str, chat_id: int, after: int, cursor: int | None) -> int | None:
    """For a page asking for the chat's messages after id `after` and its changes after `cursor`
    (messages only when None): the user's id when the sign-in `login_id` is live, the user is a
    member, and the chat has neither (its change number only moves forward, in the transaction
    that stores the change); else None, and the full answer decides. One statement, no message
    row read."""
    parsed = sessions.parse_login_id(login_id)
    if parsed is None or chat_id > MAX_ID or after > MAX_ID:
        return None
    user_id, token, sid = parsed
    rows = _POLL_STATE.on_pool(db.engine, {"chat": chat_id, "after": after, "sid": sid,
                                           "user": user_id, "token": token, "now": utcnow()})
    if not rows:
        return None
    newer, changed = rows[0]
    if newer or (cursor is not None and changed > cursor):
        return None
    return user_id


def render_reload(chat_id: int) -> str:
    """Tells a page to fetch its view of the chat afresh (static/webchat.js), as a fresh load shows it."""
    return render_template("chats/_reload_view.html", chat_id=chat_id)


def check_editable(membership: Membership, message: Message) -> None:
    if message.is_system or message.author_id != membership.user_id:
        raise ChatError("You can only edit your own messages.", 403)
    if message.is_deleted:
        raise ChatError("That message was deleted; there is nothing left to edit.", 409)
    window = workspace.edit_window_seconds()
    if window and utcnow() - _aware(message.created_at) > timedelta(seconds=window):
        minutes = max(1, round(window / 60))
        raise ChatError(f"Messages can be edited for {minutes} minute{'s' if minutes != 1 else ''} "
                        "after sending; this one is older. Nothing was changed.", 403)


def _aware(moment):
    # SQLite hands back naive datetimes (stored as UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def edit_message(membership: Membership, message: Message, body: str | None) -> Message:
    """Replace a message's text with a new version, rendered and cleaned once; announced to the chat."""
    check_writable(membership.chat)
    check_editable(membership, message)
    text = validate_body(body, required=not message.attachments)  # files may go without a caption
    if text == message.body:
        return message  # nothing changed: no "(edited)" mark, no broadcast
    send_budget.spend(membership.user_id, send_budget.EDIT)  # rendered, stored and broadcast like a send
    html, mentioned, mentioned_ids = render_body(message.chat_id, text)
    message.body, message.html, message.mentions = text, html, " ".join(mentioned)
    record_mentions(message, mentioned_ids, replace=True)
    message.edited_at = utcnow()
    record_change(message)
    quoting = follow_quotes(message)
    db.session.commit()
    log.info("message.edited chat=%d id=%d chars=%d", message.chat_id, message.id, len(text))
    announce_change(message, quoting)
    return message


def check_deletable(membership: Membership, message: Message) -> None:
    if message.is_system:
        raise ChatError("Chat events can't be deleted.", 403)
    if message.author_id == membership.user_id or membership.deletes_others_messages:
        return
    if membership.chat.is_direct:
        raise ChatError("In a direct message only its author can delete a message.", 403)
    raise ChatError("Only the author or a chat admin can delete a message.", 403)


def delete_message(membership: Membership, message: Message) -> Message:
    """Erase a message's content for good; its place in the timeline shows "message deleted"."""
    check_writable(membership.chat)
    check_deletable(membership, message)
    if message.is_deleted:
        return message  # deleting twice is not an error: the result is what was asked for
    files = attachments.remove_from(message)
    message.body, message.html, message.mentions = "", "", ""
    record_mentions(message, [], replace=True)
    message.deleted_at = utcnow()
    message.reactions.clear()
    record_change(message)
    quoting = follow_quotes(message)
    db.session.commit()
    attachments.discard(files)
    log.info("message.deleted chat=%d id=%d by=%d", message.chat_id, message.id, membership.user_id)
    announce_change(message, quoting)
    return message
