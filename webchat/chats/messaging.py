"""Storing, reading and announcing messages: the one path every message takes.

HTTP and the WebSocket both call send_message(); history, polling and catch-up all read
through messages_after()/messages_before(), so "hide system messages" and ordering hold everywhere.
"""
import logging
import re
import uuid
from dataclasses import dataclass

from flask import current_app, render_template
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Attachment, Chat, Membership, Message, Reaction, User, utcnow
from ..realtime.hub import chat_channel
from ..text_rules import unstorable
from . import send_budget
from .errors import ChatError
from .formatting import MENTION, render_message, render_plain

log = logging.getLogger(__name__)
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass
class SendResult:
    message: Message
    created: bool  # False when the client id had been used already: the same message is answered


def new_client_id() -> str:
    return str(uuid.uuid4())


def validate_body(body: str | None, required: bool = True) -> str:
    """The message text, stripped; required=False lets it be empty (a caption of attached files)."""
    text = (body or "").strip()
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


def _existing(author_id: int, client_id: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(Message.author_id == author_id, Message.client_id == client_id)
    )


def send_message(membership: Membership, body: str | None, client_id: str | None,
                 attachments: list[Attachment] = ()) -> SendResult:
    """Validate, render, store and announce a user's message; a repeated client id stores nothing new.

    attachments: rows for files already written (chats.attachments); with them the text may be empty.
    """
    author, chat = membership.user, membership.chat
    if client_id is None or client_id == "":
        client_id = new_client_id()
    elif not CLIENT_ID.fullmatch(client_id):  # match() would let a trailing newline through
        raise ChatError("This message could not be sent: its id is malformed. Reload the page and retry.", 400)
    existing = _existing(author.id, client_id)
    if existing is None:
        text = validate_body(body, required=not attachments)
        send_budget.spend(author.id)  # only what would be stored counts: repeats and refusals are free
    else:
        return _answer_repeat(existing, chat)

    html, mentioned = render_message(text, mentionable(chat.id, text))
    try:
        message = _store(chat, kind="user", author_id=author.id, body=text, html=html,
                         mentions=" ".join(mentioned), client_id=client_id)
        if attachments:
            message.attachments.extend(attachments)
        membership.last_read_message_id = message.id
        db.session.commit()
    except IntegrityError:
        # Two submits with one client id raced; the other one stored it.
        db.session.rollback()
        existing = _existing(author.id, client_id)
        if existing is None:
            raise
        return _answer_repeat(existing, chat)
    # A new message has no reactions (nor files, unless given): say so, so that rendering it for
    # the announcement and the sender's answer does not query for them.
    set_committed_value(message, "reactions", [])
    if not attachments:
        set_committed_value(message, "attachments", [])
    log.info("message.stored chat=%d id=%d chars=%d", chat.id, message.id, len(text))
    announce(message)
    return SendResult(message, created=True)


def mentionable(chat_id: int, text: str) -> set[str]:
    """Members whose @username the text names (one small query, not the whole member list)."""
    names = {name.lower() for name in MENTION.findall(text)}
    if not names:
        return set()
    return set(db.session.scalars(
        select(User.username).join(Membership)
        .where(Membership.chat_id == chat_id, User.username.in_(names))
    ))


def _answer_repeat(existing: Message, chat: Chat) -> SendResult:
    if existing.chat_id != chat.id:
        raise ChatError("This message id was already used in another chat. Reload the page and retry.", 409)
    return SendResult(existing, created=False)


def _store(chat: Chat, **fields) -> Message:
    """Insert a message and bump its chat, in the caller's transaction.

    The chat row is updated before the insert: on PostgreSQL that row lock serialises writers
    of one chat, so message ids of a chat commit in id order and "after id N" never skips one.
    """
    now = utcnow()
    seq = db.session.scalar(
        update(Chat).where(Chat.id == chat.id)
        .values(last_activity_at=now, last_seq=Chat.last_seq + 1).returning(Chat.last_seq))
    message = Message(chat_id=chat.id, seq=seq, created_at=now, **fields)
    db.session.add(message)
    db.session.flush()
    db.session.execute(update(Chat).where(Chat.id == chat.id).values(last_message_id=message.id))
    return message


def add_system_message(chat: Chat, text: str) -> Message:
    """Record an event (created, joined, renamed…) in the chat's timeline; the caller commits.

    No request handler passes user input here as a kind: system messages exist only through
    the chat operations in chats.service.
    """
    return _store(chat, kind="system", author_id=None, body=text, html=render_plain(text), mentions="")


def render_messages(messages: list[Message], viewer: User | None = None) -> str:
    """Messages for one viewer's page: their hidden system events become empty placeholders."""
    hide_system = bool(viewer and viewer.hide_system_messages)
    return render_template("chats/_messages.html", messages=messages, hide_system=hide_system)


def render_message_frame(messages: list[Message]) -> str:
    """The same message HTML, wrapped to be appended to the page's #messages by htmx's ws extension."""
    return render_template("realtime/_messages_frame.html", messages=messages)


def announce(message: Message) -> None:
    """Render the message once and publish that HTML to its chat's channel (after commit)."""
    hub = current_app.extensions["webchat.hub"]
    hub.publish(chat_channel(message.chat_id), render_message_frame([message]))


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


def has_older(chat_id: int, viewer: User, oldest_id: int) -> bool:
    oldest_id = min(oldest_id, MAX_ID)
    return bool(db.session.scalar(
        select(func.count()).select_from(
            _visible(viewer).where(Message.chat_id == chat_id, Message.id < oldest_id).limit(1).subquery()
        )
    ))

