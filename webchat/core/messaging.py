"""Storing, reading and announcing messages: the one path every message takes.

HTTP and the WebSocket both call send_message(); history, polling and catch-up all read
through messages_after()/messages_before(), so "hide system messages" and ordering hold everywhere.
"""
import logging
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy import bindparam, delete, func, insert, literal_column, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..database import DriverStatement, as_sqlalchemy_errors
from ..extensions import db
from ..models import Attachment, Chat, Membership, Mention, Message, Reaction, User, utcnow
from ..templating import render_around, render_fragment
from ..text_rules import body_without_controls, unstorable, without_controls
from . import following, notifier, program_events, send_budget
from .errors import ChatError
from .formatting import MENTION, render_message, render_plain
from .read_only import archived_refusal, check_writable

log = logging.getLogger(__name__)
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass
class SendResult:
    message: Message
    created: bool  # False when the client id had been used already: the same message is answered
    fragment: str | None = None  # the announced frame (render_message_frame), when created


# Sending is the hot path: prebuilt Core statements, since the ORM's work per statement (compiling,
# identity map, refreshing after commit) outweighs the statement's, and the three every message
# takes on the driver's cursor (DriverStatement). Figures: bench/README.md, "Measured history".
_chats, _messages, _memberships, _users = (Chat.__table__, Message.__table__, Membership.__table__,
                                           User.__table__)
_EXISTING = select(_messages.c.id).where(_messages.c.author_id == bindparam("author"),
                                         _messages.c.client_id == bindparam("client_id"))
# Takes `count` sequence numbers at once and returns the last (group_commit stores several).
NEXT_SEQ = DriverStatement(update(_chats).where(_chats.c.id == bindparam("chat"))
                           .values(last_activity_at=bindparam("now"), last_seq=_chats.c.last_seq + bindparam("count"))
                           .returning(_chats.c.last_seq))
# The columns message_row fills (all but the id).
MESSAGE_COLUMNS = ["chat_id", "seq", "created_at", "author_id", "change_seq", "edited_at", "deleted_at",
                   "kind", "body", "html", "mentions", "client_id", "thread_id", "broadcast", "reply_to_id"]
ROWS_PER_INSERT = 50


@lru_cache(maxsize=ROWS_PER_INSERT)
def _insert_statement(count: int) -> DriverStatement:
    """One INSERT of `count` messages, parameters named <column>_<row>. Its RETURNING rows come in
    no promised order, hence (id, chat id, seq)."""
    rows = [{column: bindparam(f"{column}_{i}") for column in MESSAGE_COLUMNS} for i in range(count)]
    return DriverStatement(insert(_messages).values(rows).returning(_messages.c.id, _messages.c.chat_id,
                                                                    _messages.c.seq))


def insert_messages(connection, rows: list[dict], dialect=None) -> dict[tuple[int, int], int]:
    """Insert message rows (message_row), ROWS_PER_INSERT per statement; each one's id by (chat id, seq).
    connection: an SQLAlchemy Connection, or a driver connection with its dialect."""
    run = ((lambda statement, params: statement.rows(connection, params)) if dialect is None
           else (lambda statement, params: statement.run(dialect, connection, params)))
    ids = {}
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start:start + ROWS_PER_INSERT]
        params = {f"{column}_{i}": row[column] for i, row in enumerate(chunk) for column in MESSAGE_COLUMNS}
        for message_id, chat_id, seq in run(_insert_statement(len(chunk)), params):
            ids[chat_id, seq] = message_id
    return ids
ADD_MENTION = insert(Mention.__table__)
_DROP_MENTIONS = delete(Mention.__table__).where(Mention.__table__.c.message_id == bindparam("message"))
# Names looked up per statement: a text naming more takes one statement per this many, and one
# naming fewer repeats its last (one compiled statement, run on the driver's cursor).
NAMES_PER_LOOKUP = 8
_MENTIONABLE = DriverStatement(
    select(_users.c.username, _users.c.id).join(_memberships, _memberships.c.user_id == _users.c.id)
    .where(_memberships.c.chat_id == bindparam("chat"),
           _users.c.username.in_([bindparam(f"name_{i}") for i in range(NAMES_PER_LOOKUP)])))


@dataclass(frozen=True)
class Sender:
    """What send_message needs of a membership, read in one Core query (sender_in)."""

    chat_id: int
    user: User  # detached, with id, username, display_name, avatar_name and is_bot (what the partial and events read)
    client_id: str | None = None  # the id sender_in looked up, and the user's message under it
    repeat_of: int | None = None
    chat_name: str | None = None
    archived: bool = False  # the chat is read-only (core/read_only.py)


_SENDER = DriverStatement(
    select(_users.c.username, _users.c.display_name, _users.c.avatar_name, _users.c.is_bot,
           _EXISTING.scalar_subquery().label("repeat_of"), _chats.c.name, _chats.c.archived_at)
    .select_from(_memberships).join(_users, _users.c.id == _memberships.c.user_id)
    .join(_chats, _chats.c.id == _memberships.c.chat_id)
    .where(_memberships.c.chat_id == bindparam("chat"), _memberships.c.user_id == bindparam("user")))


def sender_in(chat_id: int, user_id: int, client_id: str | None = None) -> Sender | None:
    """The user's membership of the chat, as a Sender, and which of their messages already has
    client_id (a repeat), in one query; None if they are not in the chat."""
    rows = _SENDER.rows(db.session.connection(),
                        {"chat": chat_id, "user": user_id, "author": user_id, "client_id": client_id})
    if not rows:
        return None
    username, display_name, avatar_name, is_bot, repeat_of, chat_name, archived_at = rows[0]
    user = sender_user(user_id, username, display_name, avatar_name, is_bot)
    return Sender(chat_id, user, client_id, repeat_of, chat_name, archived_at is not None)


# Senders as sender_user built them, by the columns read: building one (make_transient_to_detached
# expires each of a User's ~30 columns not read) was ~5 % of a lone message's CPU. A changed name
# or picture is a new key; the stale entry goes when the dict is cleared, on filling.
_senders: dict[tuple, User] = {}
SENDERS_KEPT = 1024


def sender_user(user_id: int, username: str, display_name: str, avatar_name: str | None, is_bot) -> User:
    """The sender as the partial and events read them, detached, from the columns a send's lookup
    reads. One instance serves every message by the same columns: it is only read (nothing adds
    a sent message, or its author, to a Session)."""
    key = (user_id, username, display_name, avatar_name, bool(is_bot))
    user = _senders.get(key)
    if user is None:
        if len(_senders) >= SENDERS_KEPT:
            _senders.clear()
        user = _senders[key] = detached(User, id=user_id, username=username, display_name=display_name,
                                        avatar_name=avatar_name, is_bot=bool(is_bot))
    return user



def new_client_id() -> str:
    return str(uuid.uuid4())


def validate_body(body: str | None, required: bool = True) -> str:
    """The message text, stripped, without control characters (text_rules.body_without_controls);
    required=False lets it be empty (a caption of attached files)."""
    text = body_without_controls(body or "").strip()
    if not text and required:
        raise ChatError("Type a message before sending.")
    limit = current_app.config["MAX_MESSAGE_LENGTH"]
    if len(text) > limit:
        raise ChatError(f"That message is {len(text):,} characters long; the limit is {limit:,}. "
                        "Nothing was sent — shorten it or split it into parts.")
    # A socket frame's JSON can carry "\u0000" and lone surrogates ("\ud800"): PostgreSQL refuses
    # the one, UTF-8 (the sanitizer, the database) the other, so say so instead of failing later.
    if unstorable(text):
        raise ChatError("That message contains a character webchat can't store (a NUL or an unpaired "
                        "surrogate). Nothing was sent — remove it and send again.")
    return text


def _existing(author_id: int, client_id: str, membership: "Membership | Sender | None" = None) -> Message | None:
    """The author's message stored under client_id, if any (a Sender from sender_in knows already)."""
    if isinstance(membership, Sender) and membership.client_id == client_id:
        message_id = membership.repeat_of
    else:
        message_id = db.session.connection().scalar(_EXISTING, {"author": author_id, "client_id": client_id})
    return None if message_id is None else db.session.get(Message, message_id)


@dataclass
class Draft:
    """A message checked and rendered to HTML, not stored yet (draft_message)."""

    membership: "Membership | Sender"
    client_id: str
    text: str
    html: str
    mentioned: list[str]
    mentioned_ids: list[int]
    thread: "Message | None" = None  # the parent of a reply in a thread
    broadcast: bool = False  # a reply also sent to the channel
    reply_to: "Message | None" = None  # the message it quotes

    def fields(self) -> dict:
        """What the messages row holds of the draft itself (message_row adds the rest)."""
        return {"kind": "user", "body": self.text, "html": self.html, "mentions": " ".join(self.mentioned),
                "client_id": self.client_id, "thread_id": self.thread.id if self.thread else None,
                "broadcast": self.broadcast, "reply_to_id": self.reply_to.id if self.reply_to else None}


def send_message(membership: "Membership | Sender", body: str | None, client_id: str | None,
                 attachments: list[Attachment] = (), *, thread_id: int | None = None, broadcast: bool = False,
                 reply_to_id: int | None = None) -> SendResult:
    """Validate, render, store and announce a user's message; a repeated client id stores nothing new.

    membership: a Membership, or a Sender (the socket's cheaper lookup).
    attachments: rows for files already written (core/attachments.py); with them the text may be empty.
    thread_id: a reply in that message's thread (broadcast: shown in the channel too);
    reply_to_id: the message it quotes (answering()).
    """
    draft = draft_message(membership, body, client_id, has_attachments=bool(attachments), thread_id=thread_id,
                          broadcast=broadcast, reply_to_id=reply_to_id)
    if isinstance(draft, SendResult):
        return draft
    return store_draft(draft, attachments)


def draft_message(membership: "Membership | Sender", body: str | None, client_id: str | None,
                  has_attachments: bool = False, *, thread_id: int | None = None, broadcast: bool = False,
                  reply_to_id: int | None = None) -> "Draft | SendResult":
    """Check and render a message before storing it: a Draft, or the answer to a repeated client id.
    Spends the sender's budget (send_budget) for a message that will be stored."""
    author, chat_id = membership.user, membership.chat_id
    if client_id is None or client_id == "":
        client_id = new_client_id()
    elif not CLIENT_ID.fullmatch(client_id):  # match() would let a trailing newline through
        raise ChatError("This message could not be sent: its id is malformed. Reload the page and retry.", 400)
    existing = _existing(author.id, client_id, membership)
    if existing is not None:
        return _answer_repeat(existing, chat_id)
    if isinstance(membership, Sender):
        if membership.archived:
            raise archived_refusal(membership.chat_name)
    else:
        check_writable(membership.chat)
    text = validate_body(body, required=not has_attachments)
    thread = answering(chat_id, thread_id, THREAD) if thread_id is not None else None
    reply_to = answering(chat_id, reply_to_id, QUOTE) if reply_to_id is not None and thread is None else None
    if thread is not None and broadcast:
        reply_to = thread  # shown in the channel, it quotes the message it answers
    send_budget.spend(author.id)  # only what would be stored counts: repeats and refusals are free
    html, mentioned, mentioned_ids = render_body(chat_id, text)
    return Draft(membership, client_id, text, html, mentioned, mentioned_ids, thread, bool(broadcast and thread),
                 reply_to)


THREAD, QUOTE = "reply in the thread of", "quote"


def answering(chat_id: int, message_id: int, how: str) -> Message:
    """The message a new one answers (how: THREAD, a reply in its thread; QUOTE, a quote of it),
    if it may be answered so: a person's message of the same chat, not deleted; a thread's parent
    is not itself a reply (threads are one level deep). ChatError otherwise, nothing stored."""
    message = db.session.get(Message, message_id) if 0 < message_id <= MAX_ID else None
    if message is None or message.chat_id != chat_id:
        raise ChatError("The message you are answering is not in this chat. Nothing was sent.", 404)
    if message.is_system:
        raise ChatError("Chat events can't be answered. Nothing was sent.", 422)
    if message.is_deleted:
        raise ChatError("The message you are answering was deleted. Nothing was sent — "
                        "send it as a new message instead.", 422)
    if how == THREAD and message.is_reply:
        raise ChatError("Threads are one level deep: answer in the same thread. Nothing was sent.", 422)
    return message


def store_draft(draft: Draft, attachments: list[Attachment] = ()) -> SendResult:
    """Store one message in a transaction of its own, commit, and announce it (group_commit stores several)."""
    author, chat_id = draft.membership.user, draft.membership.chat_id
    try:
        message = _store(chat_id, author, **draft.fields())
        record_mentions(message, draft.mentioned_ids)
        parent = record_reply(message, draft.thread, draft.mentioned_ids) if draft.thread is not None else None
        if attachments:
            for attachment in attachments:
                attachment.message_id = message.id
            db.session.add_all(attachments)
            db.session.flush()  # their ids, for the links in the fragment
            set_committed_value(message, "attachments", list(attachments))
        # Rendered before the commit, while the author row is loaded; published only after it.
        fragment = render_message_frame([message])
        if parent is not None:  # its summary, changed with the reply: one frame, one publication
            fragment += render_template("chats/_changes.html", messages=[parent], chat_id=chat_id)
        db.session.commit()
    except IntegrityError:
        # Two submits with one client id raced; the other one stored it.
        db.session.rollback()
        existing = _existing(author.id, draft.client_id)
        if existing is None:
            raise
        return _answer_repeat(existing, chat_id)
    log.info("message.stored chat=%d id=%d chars=%d", chat_id, message.id, len(draft.text))
    announce(message, fragment, changed=[parent] if parent is not None else ())
    if parent is not None:
        following.announce_reply(message, parent)
    return SendResult(message, created=True, fragment=fragment)


def send_alone(chat_id: int, user_id: int, body: str | None, client_id: str,
               reply_to_id: int | None = None) -> SendResult | None:
    """A socket send that arrived alone (core/group_commit.py): checked, stored and announced as
    send_message does it; None if the user is not in the chat. A message that quotes nothing is
    checked and stored in one statement on PostgreSQL (_send_in_one_statement), on a driver
    connection without the Session on SQLite (_send_on_driver); a quote, a send that _sendable
    refuses, and on SQLite one that _send_on_driver did not store, go the usual way: sender_in,
    draft_message, store_draft."""
    if reply_to_id is None:
        text = _sendable(user_id, body, client_id)
        if text is not None:
            with as_sqlalchemy_errors(db.engine.dialect):
                if db.engine.dialect.name == "postgresql":
                    return _send_in_one_statement(chat_id, user_id, text, client_id)
                result = _send_on_driver(chat_id, user_id, text, client_id)
            if result is not None:
                return result
    sender = sender_in(chat_id, user_id, client_id)
    if sender is None:
        return None
    draft = draft_message(sender, body, client_id, reply_to_id=reply_to_id)
    return draft if isinstance(draft, SendResult) else store_draft(draft)


def _sendable(user_id: int, body: str | None, client_id: str) -> str | None:
    """The text of a send that passes the checks made before the database is asked, with the
    sender's budget spent; None if one refuses it: the usual way then answers it, after the
    membership and repeat checks, in send_message's order (a repeat is answered even when over
    budget)."""
    if not CLIENT_ID.fullmatch(client_id):
        return None
    try:
        text = validate_body(body)
    except ChatError:
        return None
    try:
        send_budget.spend(user_id)
    except ChatError:
        send_budget.refund(user_id)  # the usual way spends (and refuses) again: counted once
        return None
    return text


# Migration 0017: the membership, repeat and read-only checks, the sequence bump, the INSERT and
# its mention rows, in one statement run in autocommit (its own transaction): one round trip.
_SEND_MESSAGE = DriverStatement(sql_text(
    "SELECT * FROM webchat_send_message(CAST(:chat AS integer), CAST(:author AS integer), "
    "CAST(:client_id AS varchar), CAST(:now AS timestamptz), CAST(:body AS text), CAST(:html AS text), "
    "CAST(:mentions AS text), CAST(:mentioned AS integer[]))"))


def _send_in_one_statement(chat_id: int, user_id: int, text: str, client_id: str) -> SendResult | None:
    """Store a checked text (_sendable) with webchat_send_message, on a pooled driver connection in
    autocommit (no Session, no BEGIN); refund the budget if it finds a repeat, an archived chat, or
    no membership."""
    engine = db.engine
    driver = engine.raw_connection()
    try:
        driver.driver_connection.autocommit = True
        # The mention lookup (a text naming someone) on the same connection, in autocommit too.
        html, mentioned, mentioned_ids = render_body(chat_id, text, (engine.dialect, driver))
        now = utcnow()
        rows = _SEND_MESSAGE.run(engine.dialect, driver, {
            "chat": chat_id, "author": user_id, "client_id": client_id, "now": now, "body": text, "html": html,
            "mentions": " ".join(mentioned), "mentioned": mentioned_ids})
    except IntegrityError:
        # Two sends with one client id raced; the other one stored it.
        existing = _existing(user_id, client_id)
        if existing is None:
            raise
        return _answer_repeat(existing, chat_id)
    finally:
        if driver.driver_connection.broken:
            driver.invalidate()  # not back into the pool
        else:
            driver.driver_connection.autocommit = False  # as the pool hands it out
        driver.close()
    if not rows or rows[0][7] is None:  # not stored: free
        send_budget.refund(user_id)
    if not rows:
        return None
    username, display_name, avatar_name, is_bot, chat_name, archived, repeat_of, message_id, seq = rows[0]
    if repeat_of is not None:
        return _answer_repeat(db.session.get(Message, repeat_of), chat_id)
    if archived:
        raise archived_refusal(chat_name)
    user = sender_user(user_id, username, display_name, avatar_name, is_bot)
    draft = Draft(Sender(chat_id, user), client_id, text, html, mentioned, mentioned_ids)
    return _announce_stored(detached_message(message_id, message_row(chat_id, seq, now, user, **draft.fields()),
                                             user))


_ADD_MENTION_ROW = DriverStatement(insert(Mention.__table__).values(
    message_id=bindparam("message_id"), user_id=bindparam("user_id"), chat_id=bindparam("chat_id"),
    thread_id=bindparam("thread_id")))


# SQLite: the chat's sequence bump, made only if the user is in the chat, it is not read-only and
# the client id is new (sender_in's checks, in the statement that takes the write lock), and the
# sender's columns the partial reads: what sender_in and NEXT_SEQ did in two statements.
_SENDER_NEXT_SEQ = DriverStatement(
    update(_chats)
    .where(_chats.c.id == bindparam("chat"), _chats.c.archived_at.is_(None),
           select(_memberships.c.user_id).where(_memberships.c.chat_id == bindparam("chat"),
                                                _memberships.c.user_id == bindparam("user")).exists(),
           ~_EXISTING.exists())
    .values(last_activity_at=bindparam("now"), last_seq=_chats.c.last_seq + literal_column("1"))
    .returning(_chats.c.last_seq, *(select(column).where(_users.c.id == bindparam("user")).scalar_subquery()
                                    for column in (_users.c.username, _users.c.display_name, _users.c.avatar_name,
                                                   _users.c.is_bot))))


def _send_on_driver(chat_id: int, user_id: int, text: str, client_id: str) -> SendResult | None:
    """SQLite: store a checked text (_sendable) with _SENDER_NEXT_SEQ, the INSERT and the mention
    rows on a pooled driver connection and commit it, without the Session's transaction around
    them. None, with the budget refunded and nothing stored, if the sequence bump refused it (not
    a member, a repeat, a read-only chat): the usual way answers it. The mention lookup is read
    on the same connection, before the write lock is taken."""
    engine = db.engine
    dialect, driver = engine.dialect, engine.raw_connection()
    try:
        html, mentioned, mentioned_ids = render_body(chat_id, text, (dialect, driver))  # pysqlite: no BEGIN yet
        now = utcnow()
        rows = _SENDER_NEXT_SEQ.run(dialect, driver, {"chat": chat_id, "user": user_id, "author": user_id,
                                                      "client_id": client_id, "now": now})
        if not rows:
            driver.rollback()  # the write lock, before the usual way reads
            send_budget.refund(user_id)  # not stored: free
            return None
        seq, username, display_name, avatar_name, is_bot = rows[0]
        user = sender_user(user_id, username, display_name, avatar_name, is_bot)
        draft = Draft(Sender(chat_id, user), client_id, text, html, mentioned, mentioned_ids)
        values = message_row(chat_id, seq, now, user, **draft.fields())
        message = detached_message(insert_messages(driver, [values], dialect)[chat_id, seq], values, user)
        for row in mention_rows(message, mentioned_ids):
            _ADD_MENTION_ROW.run(dialect, driver, row)
        driver.commit()
    except IntegrityError:
        # Two sends with one client id raced; the other one stored it.
        driver.rollback()
        existing = _existing(user_id, client_id)
        if existing is None:
            raise
        return _answer_repeat(existing, chat_id)
    except BaseException:
        driver.rollback()
        raise
    finally:
        driver.close()
    return _announce_stored(message)


def _announce_stored(message: Message) -> SendResult:
    """A message send_alone stored (committed): rendered once, logged, announced."""
    fragment = render_message_frame([message])
    log.info("message.stored chat=%d id=%d chars=%d", message.chat_id, message.id, len(message.body))
    announce(message, fragment)
    return SendResult(message, created=True, fragment=fragment)


def mentionable(chat_id: int, text: str, driver=None) -> dict[str, int]:
    """Members whose @username the text names, username to user id (one small query, not the
    whole member list). driver: (dialect, a pooled driver connection) to read on, else the Session's."""
    names = sorted({name.lower() for name in MENTION.findall(text)})
    if not names:
        return {}
    dialect, connection = driver or (db.engine.dialect, db.session.connection().connection)
    members = {}
    for start in range(0, len(names), NAMES_PER_LOOKUP):
        chunk = names[start:start + NAMES_PER_LOOKUP]
        chunk += chunk[-1:] * (NAMES_PER_LOOKUP - len(chunk))
        members.update(_MENTIONABLE.run(dialect, connection,
                                        {"chat": chat_id, **{f"name_{i}": name for i, name in enumerate(chunk)}}))
    return members


def render_body(chat_id: int, text: str, driver=None) -> tuple[str, list[str], list[int]]:
    """A message text's clean HTML, the members it mentions, and their user ids (sending, editing);
    driver: as mentionable's."""
    members = mentionable(chat_id, text, driver)
    html, mentioned = render_message(text, members)
    return html, mentioned, [members[name] for name in mentioned]


def record_mentions(message: Message, user_ids: list[int], replace: bool = False) -> None:
    """The mention rows the "@" badges count: one per member the message names, but not its
    author (one's own mentions never count). replace: drop the rows of the message's last version."""
    rows = mention_rows(message, user_ids)
    if replace:
        db.session.connection().execute(_DROP_MENTIONS, {"message": message.id})
    if rows:  # most messages name nobody: no statement, on the path every message takes
        db.session.connection().execute(ADD_MENTION, rows)


def mention_rows(message: Message, user_ids: list[int]) -> list[dict]:
    thread_id = None if message.in_channel else message.thread_id  # counted in the Threads view instead
    return [{"message_id": message.id, "user_id": user_id, "chat_id": message.chat_id, "thread_id": thread_id}
            for user_id in user_ids if user_id != message.author_id]


def _answer_repeat(existing: Message, chat_id: int) -> SendResult:
    if existing.chat_id != chat_id:
        raise ChatError("This message id was already used in another chat. Reload the page and retry.", 409)
    return SendResult(existing, created=False)


def _store(chat_id: int, author: User | None, **fields) -> Message:
    """Insert a message and take its chat's next number, in the caller's transaction; the message,
    detached. The database sets the chat's last_message_id and the author's read marker on insert
    (migration 0008).

    The chat row is updated before the insert: on PostgreSQL that row lock serialises writers
    of one chat, so message ids of a chat commit in id order and "after id N" never skips one.
    """
    connection = db.session.connection()
    now = utcnow()
    seq = NEXT_SEQ.rows(connection, {"chat": chat_id, "now": now, "count": 1})[0][0]
    values = message_row(chat_id, seq, now, author, **fields)
    return detached_message(insert_messages(connection, [values])[chat_id, seq], values, author)


def message_row(chat_id: int, seq: int, now, author: User | None, **fields) -> dict:
    """A new message's row: its chat, its place in the chat, when, by whom, and its fields (with
    a new message's empty thread summary, which the INSERT leaves to the columns' defaults)."""
    return dict(chat_id=chat_id, seq=seq, created_at=now, author_id=author.id if author else None,
                change_seq=0, edited_at=None, deleted_at=None, **{**_NO_THREAD, **fields})


_NO_THREAD = {"thread_id": None, "broadcast": False, "reply_to_id": None, "reply_count": 0, "last_reply_id": 0,
              "last_reply_at": None, "thread_repliers": ""}
REPLIERS_SHOWN = 3
_NEXT_CHANGE = (update(_chats).where(_chats.c.id == bindparam("chat"))
                .values(last_change_seq=_chats.c.last_change_seq + 1).returning(_chats.c.last_change_seq))


def record_reply(reply: Message, parent: Message, mentioned_ids: list[int]) -> Message:
    """The reply counted in its parent's summary (a change of the parent: the chat's next change
    number), in the reply's transaction, after _store took the chat row: replies to one chat, and
    so to one thread, are counted one at a time, and the count always agrees with the rows.
    The thread's followers are brought up to date (core/threads.py). The parent, as changed."""
    connection = db.session.connection()
    db.session.refresh(parent)  # as of the chat row's lock: a reply stored meanwhile is counted
    repliers = [reply.author_id, *(int(i) for i in parent.thread_repliers.split() if int(i) != reply.author_id)]
    change = connection.scalar(_NEXT_CHANGE, {"chat": parent.chat_id})
    before = parent.last_reply_id
    parent.reply_count += 1
    parent.last_reply_id = reply.id
    parent.last_reply_at = reply.created_at
    parent.thread_repliers = " ".join(str(i) for i in repliers[:REPLIERS_SHOWN])
    parent.change_seq = change
    db.session.flush()
    following.follow_on_reply(reply, parent, mentioned_ids, before)
    return parent


def detached_message(message_id: int, values: dict, author: User | None) -> Message:
    """A just-inserted message, fully loaded and detached from the session: reading it after the
    commit costs no query, and reading anything not loaded raises instead of querying."""
    return detached(Message, {"author": author, "reactions": [], "attachments": []}, id=message_id, **values)


def detached(model: type, relationships: dict | None = None, **values):
    """An instance of model holding values (and relationships: name to what it holds) as loaded
    from the database, and detached. Built as SQLAlchemy's loader builds one (a new instance's
    dict filled, not __init__ with an attribute event per value), more cheaply, on the path every
    message takes. The relationships are set before it is detached, which expires what is not loaded."""
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)
    for name, value in (relationships or {}).items():
        set_committed_value(instance, name, value)
    make_transient_to_detached(instance)
    return instance


def add_system_message(chat: Chat, text: str) -> Message:
    """Record an event (created, joined, renamed…) in the chat's timeline; the caller commits.

    No request handler passes user input here as a kind: system messages exist only through
    the chat operations in core/service.py.
    """
    db.session.flush()  # a new chat gets its id, new members their rows, before the Core statements
    # The names in it are given without bidi controls now, but a name stored before may hold one:
    # it must not reverse the words and time after it on the line.
    text = without_controls(text)
    return _store(chat.id, None, kind="system", body=text, html=render_plain(text), mentions="", client_id=None)


def render_messages(messages: list[Message], viewer: User | None = None) -> str:
    """Messages for one viewer's page: their hidden system events become empty placeholders; each
    reply also as its thread's open pane shows it (render_thread_frames)."""
    hide_system = bool(viewer and viewer.hide_system_messages)
    return (render_template("chats/_messages.html", messages=messages, hide_system=hide_system)
            + render_thread_frames(messages))


def render_message_frame(messages: list[Message]) -> str:
    """The same message HTML, wrapped to be appended to the page's #messages by htmx's ws extension
    (a reply kept in its thread as a placeholder there), and each reply to its thread's pane."""
    return frame_articles(render_articles(messages)) + render_thread_frames(messages)


def render_thread_frames(messages: list[Message]) -> str:
    """The replies among messages as their thread's pane shows them, appended to its replies
    (dropped by a page that has that thread closed)."""
    threads: dict[int, list[str]] = {}
    for message in messages:
        if message.thread_id is not None:
            threads.setdefault(message.thread_id, []).append(render_article(message, place="thread"))
    return "".join(render_fragment("realtime/_thread_frame.html", thread_id=thread_id, articles=Markup("".join(a)))
                   for thread_id, a in threads.items())


def render_articles(messages: list[Message]) -> str:
    """The messages as every viewer's page shows them (nobody's hidden events are placeholders here)."""
    return "".join([render_article(message) for message in messages])


def render_article(message: Message, place: str = "channel") -> str:
    """One message as every viewer's page shows it: the partial itself, not through _messages.html's
    loop, whose include would cost a second template context per message. place: "channel" (the
    chat's timeline, where a reply kept in its thread is a placeholder) or "thread" (its pane)."""
    return render_fragment("chats/_message.html", m=message, place=place) + "\n"


def frame_articles(articles: str) -> str:
    """Rendered articles (render_articles) as a socket frame that appends them to #messages."""
    return render_around("realtime/_messages_frame.html", "articles", Markup(articles))


def announce(message: Message, fragment: str | None = None, *, changed: list[Message] = (),
             also: "program_events.Events | None" = None) -> None:
    """Publish the message, rendered once (or its render_message_frame), to its chat's channel
    (after commit), and as message.created to its programs, with the messages that changed with
    it (a thread's parent) and also()'s events (program_events.publish)."""
    program_events.publish(message.chat_id, fragment or render_message_frame([message]),
                           lambda: program_events.created([message]) + program_events.changed(changed)
                           + (also() if also else []))
    notifier.wake()


def with_parts(query):
    """Load what the message partial shows besides the text, in a query each rather than one per message."""
    return query.options(joinedload(Message.author),
                         selectinload(Message.reactions).selectinload(Reaction.user),
                         selectinload(Message.attachments))


def _visible(viewer: User):
    # System events stay in every answer even for people who hide them: they are rendered as
    # empty placeholders (render_messages), so a page's sequence numbers have no false gaps.
    return with_parts(select(Message))


# A page of the channel's timeline: its messages, not the replies kept in threads (in_channel).
IN_CHANNEL = Message.thread_id.is_(None) | Message.broadcast


@dataclass(frozen=True)
class Gap:
    """Replies kept in threads between two messages of a channel's page, or after its newest: one
    hidden placeholder (chats/_gap.html) stands for their sequence numbers, so the page's catch-up
    cursor (webchat.js, resumeAfterId) runs on past them. id: a cursor after all of them."""

    chat_id: int
    seq: int
    seq_last: int
    id: int


def with_gaps(messages: list[Message], next_seq: int | None = None, next_id: int | None = None) -> list:
    """A page of channel messages with a Gap wherever their sequence numbers skip replies; next_seq
    and next_id: the sequence number after the page's end and an id before which all of it lies
    (the newer message a page of history ends before, or the chat's next)."""
    items, previous = [], None
    for message in messages:
        if previous is not None and message.seq > previous.seq + 1:
            items.append(Gap(message.chat_id, previous.seq + 1, message.seq - 1, message.id - 1))
        items.append(message)
        previous = message
    if previous is not None and next_seq is not None and next_seq > previous.seq + 1:
        items.append(Gap(previous.chat_id, previous.seq + 1, next_seq - 1, next_id - 1))
    return items


# Replies read after a page's newest message to find where the page ends (chat_end); a longer
# run of replies is left to the page's catch-up, which places them as placeholders.
END_RUN = 1000


def chat_end(chat_id: int, newest: Message | None) -> tuple[int | None, int | None]:
    """Where the chat's newest page ends: after the unbroken run of replies kept in threads that
    follows its newest message (the next sequence number, and the id after the run). Not the
    chat's last sequence number: read apart from the page's messages, it may count a message
    stored meanwhile, which the page's gap would then cover and its catch-up never fetch."""
    if newest is None:
        return None, None
    seq, end = newest.seq, newest.id
    for row in db.session.execute(
            select(Message.seq, Message.id, Message.thread_id, Message.broadcast)
            .where(Message.chat_id == chat_id, Message.seq > newest.seq).order_by(Message.seq).limit(END_RUN)):
        if row.seq != seq + 1 or row.thread_id is None or row.broadcast:
            break
        seq, end = row.seq, row.id
    return seq + 1, end + 1


def page_end_before(chat_id: int, before_id: int) -> tuple[int | None, int | None]:
    """A history page's end: the sequence number of the first message at or after before_id, and its id."""
    row = db.session.execute(select(Message.seq, Message.id).where(
        Message.chat_id == chat_id, Message.id >= min(before_id, MAX_ID)).order_by(Message.id).limit(1)).first()
    return (row[0], row[1]) if row else (None, None)


def latest_messages(chat_id: int, viewer: User, limit: int, *, replies: bool = False) -> list[Message]:
    """The chat's newest messages, oldest first: its timeline (replies: with the replies kept in
    threads too, as the API reads history)."""
    where = [Message.chat_id == chat_id] if replies else [Message.chat_id == chat_id, IN_CHANNEL]
    rows = db.session.scalars(_visible(viewer).where(*where).order_by(Message.id.desc()).limit(limit)).all()
    return list(reversed(rows))


# Ids are PostgreSQL integers; a cursor from a page beyond them means "the newest".
MAX_ID = 2**31 - 1


def messages_before(chat_id: int, viewer: User, before_id: int, limit: int, *,
                    replies: bool = False) -> list[Message]:
    """The page of the chat's timeline before before_id, oldest first (replies: as latest_messages)."""
    before_id = min(before_id, MAX_ID)
    where = [Message.chat_id == chat_id, Message.id < before_id] + ([] if replies else [IN_CHANNEL])
    rows = db.session.scalars(_visible(viewer).where(*where).order_by(Message.id.desc()).limit(limit)).all()
    return list(reversed(rows))


def messages_after(chat_id: int, viewer: User, after_id: int, limit: int) -> list[Message]:
    """Every message of the chat after after_id, replies in threads included (a channel's page
    places them as placeholders, an open thread pane shows them): catch-up misses nothing."""
    after_id = min(after_id, MAX_ID)
    return list(db.session.scalars(
        _visible(viewer).where(Message.chat_id == chat_id, Message.id > after_id)
        .order_by(Message.id).limit(limit)
    ))


def newer_count(chat_id: int, message_id: int, cap: int) -> int:
    """How many messages of the chat came after message_id, counting at most cap."""
    newer = (select(Message.id).where(Message.chat_id == chat_id, Message.id > message_id, IN_CHANNEL)
             .limit(cap).subquery())
    return db.session.scalar(select(func.count()).select_from(newer))


def has_older(chat_id: int, viewer: User, oldest_id: int) -> bool:
    """Whether the chat's timeline has a message before oldest_id: the id of one, not a message
    loaded with its parts (_visible shows every message to everyone)."""
    oldest_id = min(oldest_id, MAX_ID)
    return db.session.scalar(select(Message.id).where(Message.chat_id == chat_id, Message.id < oldest_id,
                                                      IN_CHANNEL).limit(1)) is not None

