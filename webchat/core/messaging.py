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
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..database import DriverStatement
from ..extensions import db
from ..models import Attachment, Chat, Membership, Mention, Message, Reaction, User, utcnow
from ..realtime.hub import chat_channel
from ..templating import render_fragment
from ..text_rules import body_without_controls, unstorable, without_controls
from . import send_budget
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
                   "kind", "body", "html", "mentions", "client_id"]
ROWS_PER_INSERT = 50


@lru_cache(maxsize=ROWS_PER_INSERT)
def _insert_statement(count: int) -> DriverStatement:
    """One INSERT of `count` messages, parameters named <column>_<row>. Its RETURNING rows come in
    no promised order, hence (id, chat id, seq)."""
    rows = [{column: bindparam(f"{column}_{i}") for column in MESSAGE_COLUMNS} for i in range(count)]
    return DriverStatement(insert(_messages).values(rows).returning(_messages.c.id, _messages.c.chat_id,
                                                                    _messages.c.seq))


def insert_messages(connection, rows: list[dict]) -> dict[tuple[int, int], int]:
    """Insert message rows (message_row), ROWS_PER_INSERT per statement; each one's id by (chat id, seq)."""
    ids = {}
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start:start + ROWS_PER_INSERT]
        params = {f"{column}_{i}": row[column] for i, row in enumerate(chunk) for column in MESSAGE_COLUMNS}
        for message_id, chat_id, seq in _insert_statement(len(chunk)).rows(connection, params):
            ids[chat_id, seq] = message_id
    return ids
ADD_MENTION = insert(Mention.__table__)
_DROP_MENTIONS = delete(Mention.__table__).where(Mention.__table__.c.message_id == bindparam("message"))
_MENTIONABLE = (select(_users.c.username, _users.c.id).join(_memberships, _memberships.c.user_id == _users.c.id)
                .where(_memberships.c.chat_id == bindparam("chat"),
                       _users.c.username.in_(bindparam("names", expanding=True))))


@dataclass(frozen=True)
class Sender:
    """What send_message needs of a membership, read in one Core query (sender_in)."""

    chat_id: int
    user: User  # detached, with id, username, display_name and avatar_name (all the message partial reads)
    client_id: str | None = None  # the id sender_in looked up, and the user's message under it
    repeat_of: int | None = None
    chat_name: str | None = None
    archived: bool = False  # the chat is read-only (core/read_only.py)


_SENDER = DriverStatement(
    select(_users.c.username, _users.c.display_name, _users.c.avatar_name,
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
    username, display_name, avatar_name, repeat_of, chat_name, archived_at = rows[0]
    user = detached(User, id=user_id, username=username, display_name=display_name, avatar_name=avatar_name)
    return Sender(chat_id, user, client_id, repeat_of, chat_name, archived_at is not None)



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

    def fields(self) -> dict:
        """What the messages row holds of the draft itself (message_row adds the rest)."""
        return {"kind": "user", "body": self.text, "html": self.html, "mentions": " ".join(self.mentioned),
                "client_id": self.client_id}


def send_message(membership: "Membership | Sender", body: str | None, client_id: str | None,
                 attachments: list[Attachment] = ()) -> SendResult:
    """Validate, render, store and announce a user's message; a repeated client id stores nothing new.

    membership: a Membership, or a Sender (the socket's cheaper lookup).
    attachments: rows for files already written (core/attachments.py); with them the text may be empty.
    """
    draft = draft_message(membership, body, client_id, has_attachments=bool(attachments))
    if isinstance(draft, SendResult):
        return draft
    return store_draft(draft, attachments)


def draft_message(membership: "Membership | Sender", body: str | None, client_id: str | None,
                  has_attachments: bool = False) -> "Draft | SendResult":
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
    send_budget.spend(author.id)  # only what would be stored counts: repeats and refusals are free
    html, mentioned, mentioned_ids = render_body(chat_id, text)
    return Draft(membership, client_id, text, html, mentioned, mentioned_ids)


def store_draft(draft: Draft, attachments: list[Attachment] = ()) -> SendResult:
    """Store one message in a transaction of its own, commit, and announce it (group_commit stores several)."""
    author, chat_id = draft.membership.user, draft.membership.chat_id
    try:
        message = _store(chat_id, author, **draft.fields())
        record_mentions(message, draft.mentioned_ids)
        if attachments:
            for attachment in attachments:
                attachment.message_id = message.id
            db.session.add_all(attachments)
            db.session.flush()  # their ids, for the links in the fragment
            set_committed_value(message, "attachments", list(attachments))
        # Rendered before the commit, while the author row is loaded; published only after it.
        fragment = render_message_frame([message])
        db.session.commit()
    except IntegrityError:
        # Two submits with one client id raced; the other one stored it.
        db.session.rollback()
        existing = _existing(author.id, draft.client_id)
        if existing is None:
            raise
        return _answer_repeat(existing, chat_id)
    log.info("message.stored chat=%d id=%d chars=%d", chat_id, message.id, len(draft.text))
    announce(message, fragment)
    return SendResult(message, created=True, fragment=fragment)


def mentionable(chat_id: int, text: str) -> dict[str, int]:
    """Members whose @username the text names, username to user id (one small query, not the
    whole member list)."""
    names = {name.lower() for name in MENTION.findall(text)}
    if not names:
        return {}
    return dict(db.session.connection().execute(_MENTIONABLE, {"chat": chat_id, "names": sorted(names)}).all())


def render_body(chat_id: int, text: str) -> tuple[str, list[str], list[int]]:
    """A message text's clean HTML, the members it mentions, and their user ids (sending, editing)."""
    members = mentionable(chat_id, text)
    html, mentioned = render_message(text, members)
    return html, mentioned, [members[name] for name in mentioned]


def record_mentions(message: Message, user_ids: list[int], replace: bool = False) -> None:
    """The mention rows the "@" badges count: one per member the message names, but not its
    author (one's own mentions never count). replace: drop the rows of the message's last version."""
    rows = [{"message_id": message.id, "user_id": user_id, "chat_id": message.chat_id}
            for user_id in user_ids if user_id != message.author_id]
    if replace:
        db.session.connection().execute(_DROP_MENTIONS, {"message": message.id})
    if rows:  # most messages name nobody: no statement, on the path every message takes
        db.session.connection().execute(ADD_MENTION, rows)


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
    """A new message's row: its chat, its place in the chat, when, by whom, and its fields."""
    return dict(chat_id=chat_id, seq=seq, created_at=now, author_id=author.id if author else None,
                change_seq=0, edited_at=None, deleted_at=None, **fields)


def detached_message(message_id: int, values: dict, author: User | None) -> Message:
    """A just-inserted message, fully loaded and detached from the session: reading it after the
    commit costs no query, and reading anything not loaded raises instead of querying."""
    message = detached(Message, id=message_id, **values)
    set_committed_value(message, "author", author)
    set_committed_value(message, "reactions", [])
    set_committed_value(message, "attachments", [])
    return message


def detached(model: type, **values):
    """An instance of model holding values as loaded from the database, and detached. Built as
    SQLAlchemy's loader builds one (a new instance's dict filled, not __init__ with an attribute
    event per value), more cheaply, on the path every message takes twice (author, message)."""
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)
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
    """Messages for one viewer's page: their hidden system events become empty placeholders."""
    hide_system = bool(viewer and viewer.hide_system_messages)
    return render_template("chats/_messages.html", messages=messages, hide_system=hide_system)


def render_message_frame(messages: list[Message]) -> str:
    """The same message HTML, wrapped to be appended to the page's #messages by htmx's ws extension."""
    return frame_articles(render_articles(messages))


def render_articles(messages: list[Message]) -> str:
    """The messages as every viewer's page shows them (nobody's hidden events are placeholders here)."""
    return "".join([render_article(message) for message in messages])


def render_article(message: Message) -> str:
    """One message as every viewer's page shows it: the partial itself, not through _messages.html's
    loop, whose include would cost a second template context per message."""
    return render_fragment("chats/_message.html", m=message) + "\n"


def frame_articles(articles: str) -> str:
    """Rendered articles (render_articles) as a socket frame that appends them to #messages."""
    return render_fragment("realtime/_messages_frame.html", articles=Markup(articles))


def announce(message: Message, fragment: str | None = None) -> None:
    """Publish the message, rendered once (or its render_message_frame), to its chat's channel (after commit)."""
    hub = current_app.extensions["webchat.hub"]
    hub.publish(chat_channel(message.chat_id), fragment or render_message_frame([message]))


def with_parts(query):
    """Load what the message partial shows besides the text, in a query each rather than one per message."""
    return query.options(selectinload(Message.author),
                         selectinload(Message.reactions).selectinload(Reaction.user),
                         selectinload(Message.attachments))


def _visible(viewer: User):
    # System events stay in every answer even for people who hide them: they are rendered as
    # empty placeholders (render_messages), so a page's sequence numbers have no false gaps.
    return with_parts(select(Message))


def latest_messages(chat_id: int, viewer: User, limit: int) -> list[Message]:
    rows = db.session.scalars(
        _visible(viewer).where(Message.chat_id == chat_id).order_by(Message.id.desc()).limit(limit)
    ).all()
    return list(reversed(rows))


# Ids are PostgreSQL integers; a cursor from a page beyond them means "the newest".
MAX_ID = 2**31 - 1


def messages_before(chat_id: int, viewer: User, before_id: int, limit: int) -> list[Message]:
    before_id = min(before_id, MAX_ID)
    rows = db.session.scalars(
        _visible(viewer).where(Message.chat_id == chat_id, Message.id < before_id)
        .order_by(Message.id.desc()).limit(limit)
    ).all()
    return list(reversed(rows))


def messages_after(chat_id: int, viewer: User, after_id: int, limit: int) -> list[Message]:
    after_id = min(after_id, MAX_ID)
    return list(db.session.scalars(
        _visible(viewer).where(Message.chat_id == chat_id, Message.id > after_id)
        .order_by(Message.id).limit(limit)
    ))


def newer_count(chat_id: int, message_id: int, cap: int) -> int:
    """How many messages of the chat came after message_id, counting at most cap."""
    newer = select(Message.id).where(Message.chat_id == chat_id, Message.id > message_id).limit(cap).subquery()
    return db.session.scalar(select(func.count()).select_from(newer))


def has_older(chat_id: int, viewer: User, oldest_id: int) -> bool:
    oldest_id = min(oldest_id, MAX_ID)
    return bool(db.session.scalar(
        select(func.count()).select_from(
            _visible(viewer).where(Message.chat_id == chat_id, Message.id < oldest_id).limit(1).subquery()
        )
    ))

