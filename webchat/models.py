"""The data model: users, chats, memberships and the messages of each chat's timeline."""
import secrets
from datetime import UTC, datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from sqlalchemy.sql.expression import false as sa_false
from sqlalchemy.sql.expression import true as sa_true
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .text_rules import name_skeleton


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Usernames are stored lower-cased, which makes the unique index case-insensitive.
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    # What each name looks like (text_rules.name_skeleton), set whenever the name is: a new name
    # that looks like another person's is found by index (core/accounts.py). NULL never stays: the
    # migration that added them filled them for the names stored before.
    username_skeleton: Mapped[str | None] = mapped_column(Text, index=True)
    display_skeleton: Mapped[str | None] = mapped_column(Text, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of the login id: changing it (password change, "log out everywhere") invalidates
    # every session and remember-me cookie issued before.
    session_token: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    hide_system_messages: Mapped[bool] = mapped_column(Boolean, default=False)
    # Privacy: hidden presence shows "last seen recently" (and hides others' from this user);
    # no read receipts means others don't see this user's reads (and this user sees none).
    hide_presence: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    send_read_receipts: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # Colours: "system" follows the device's light or dark setting; "light" or "dark" fix them
    # (core/accounts.py: THEMES; base.html renders it on <html>, static/app.css picks the colours).
    theme: Mapped[str] = mapped_column(String(8), default="system", server_default="system")
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The storage name of the person's picture (core/avatars.py); None: initials on their colour.
    avatar_name: Mapped[str | None] = mapped_column(String(32))

    @validates("username", "display_name")
    def _keep_skeleton(self, key: str, name: str) -> str:
        setattr(self, "username_skeleton" if key == "username" else "display_skeleton", name_skeleton(name))
        return name

    def set_password(self, password: str) -> None:
        # The test suite picks a cheaper hash; production keeps werkzeug's default (scrypt).
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)
        self.session_token = secrets.token_hex(16)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.is_active_account

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Chat(db.Model):
    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "group" or "direct"
    name: Mapped[str | None] = mapped_column(String(80))
    # "<low user id>:<high user id>" for direct chats: the unique index makes one DM per pair.
    direct_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    # Set by the database as each new message is inserted (migration 0008's trigger, which also
    # moves the author's read marker to it).
    last_message_id: Mapped[int] = mapped_column(Integer, default=0)
    # The chat's own count of messages: each message takes the next number, so a page can tell
    # a gap (a message that reached it late, or not at all) from a message that never existed.
    # Taking a number updates this row before the insert: the row lock that makes message ids
    # commit in order within a chat.
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The chat's count of changes to stored messages (edits, deletions, reactions): a page that
    # was away asks for "changes after N" as it asks for "messages after id N".
    last_change_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="chat", cascade="all, delete-orphan"
    )

    @property
    def is_direct(self) -> bool:
        return self.kind == "direct"

    def __repr__(self) -> str:
        return f"<Chat {self.id} {self.kind} {self.name!r}>"


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("chat_id", "user_id"), Index("ix_memberships_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(8), default="member")  # "admin" or "member"
    last_read_message_id: Mapped[int] = mapped_column(Integer, default=0)
    # The newest message that reached one of this member's open pages (for "delivered" marks).
    last_delivered_message_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notify: Mapped[str] = mapped_column(String(8), default="all", server_default="all")  # all, mentions, none
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    chat: Mapped[Chat] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def deletes_others_messages(self) -> bool:
        """A group's admins may delete anyone's message. Both people in a direct message are
        admins (stored so since DMs began), but there each message is its author's alone."""
        return self.is_admin and not self.chat.is_direct


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # A retried or double-submitted send carries the same client id: stored once.
        UniqueConstraint("author_id", "client_id", name="uq_messages_author_client"),
        Index("ix_messages_chat_id_id", "chat_id", "id"),
        UniqueConstraint("chat_id", "seq", name="uq_messages_chat_seq"),
        Index("ix_messages_chat_change", "chat_id", "change_seq"),
        # Ids are cursors ("everything after N"): SQLite must never hand out a used id again.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3… within the chat, in id order
    kind: Mapped[str] = mapped_column(String(8), default="user")  # "user" or "system"
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)  # the source text as typed
    html: Mapped[str] = mapped_column(Text)  # rendered and cleaned once, at write time
    # Usernames this message mentions, space-separated; drives "mentions me" styling per viewer.
    mentions: Mapped[str] = mapped_column(Text, default="")
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The chat's change number of this message's latest edit, deletion or reaction (0: never
    # changed). Pages keep the newest version of each message by it.
    change_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A deleted message keeps its place (id, seq) in the timeline; its text is erased.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    author: Mapped[User | None] = relationship()
    reactions: Mapped[list["Reaction"]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Reaction.id")
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="message", passive_deletes=True, order_by="Attachment.id")

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Reaction(db.Model):
    """One person's emoji on one message; toggling it again removes it."""

    __tablename__ = "reactions"
    __table_args__ = (UniqueConstraint("message_id", "user_id", "emoji", name="uq_reactions_message_user_emoji"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    emoji: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()


class Attachment(db.Model):
    """An uploaded file of a chat, stored under the instance folder by a random name."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_message", "message_id"),
                      UniqueConstraint("storage_name", name="uq_attachments_storage_name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))  # as the uploader named it; shown, never a path
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_name: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    message: Mapped["Message | None"] = relationship(back_populates="attachments")


class Mention(db.Model):
    """A message naming a member (@username), one row each: the "@2" badge counts these by index,
    from the member's read marker on, instead of reading every unread message's text."""

    __tablename__ = "mentions"
    __table_args__ = (Index("ix_mentions_user_chat_message", "user_id", "chat_id", "message_id"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
