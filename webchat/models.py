"""The data model: users, chats, memberships and the messages of each chat's timeline."""
import secrets
from datetime import UTC, datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
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
    # The person's place in the workspace (core/workspace.py: ROLES): "owner" and "admin" run it,
    # "member" is everyone else, and a "guest" sees only the chats they were put into.
    role: Mapped[str] = mapped_column(String(8), default="member", server_default="member")
    # Where missed mentions and direct messages are e-mailed (core/mail.py), if anywhere; the
    # one-click unsubscribe of those e-mails turns email_notifications off.
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # Do-not-disturb hours, minutes after midnight in the person's time zone (an IANA name):
    # no push or desktop notification from dnd_start to dnd_end (core/notifications.py).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    dnd_start: Mapped[int | None] = mapped_column(Integer)
    dnd_end: Mapped[int | None] = mapped_column(Integer)
    # A bot: an account of a program, owned by a person (core/bots.py), that signs in only with
    # its tokens; shown with a "bot" badge. (No foreign key: SQLite adds one only by copying users.)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    bot_owner_id: Mapped[int | None] = mapped_column(Integer)

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

    @property
    def is_workspace_admin(self) -> bool:
        return self.role in ("owner", "admin")

    @property
    def is_guest(self) -> bool:
        return self.role == "guest"

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Chat(db.Model):
    __tablename__ = "chats"
    __table_args__ = (
        # Public channels are found by name: no two may look alike (text_rules.name_skeleton).
        Index("uq_chats_public_name", "name_skeleton", unique=True,
              sqlite_where=text("is_public"), postgresql_where=text("is_public")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "group" (a channel) or "direct"
    name: Mapped[str | None] = mapped_column(String(80))
    name_skeleton: Mapped[str | None] = mapped_column(Text)
    # A public channel anyone in the workspace but a guest can find, preview and join; a private
    # one (every group chat before channels) is seen by its members only.
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    topic: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    description: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    # Archived: read-only, out of the directory, still found by its members' search.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Every new member of the workspace joins the default channels (#general).
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Who answers for the channel (an administrator can hand it on). No foreign key: people are
    # deactivated, never deleted, and SQLite adds a column with one only by copying the table.
    owner_id: Mapped[int | None] = mapped_column(Integer)
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

    @validates("name")
    def _keep_skeleton(self, key: str, name: str | None) -> str | None:
        self.name_skeleton = name_skeleton(name) if name else None
        return name

    @property
    def is_direct(self) -> bool:
        return self.kind == "direct"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

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
        Index("ix_messages_thread_id", "thread_id", "id"),
        Index("ix_messages_reply_to", "reply_to_id"),
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
    # A reply in a thread: the id of the thread's first message, its parent (core/threads.py).
    # Threads are one level deep: a parent is never a reply. No foreign key: messages are never
    # deleted (a deletion erases the text), and SQLite adds one to a column only by copying the table.
    thread_id: Mapped[int | None] = mapped_column(Integer)
    # A reply "also sent to the channel": shown in the channel as well as in its thread.
    broadcast: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # The message this one answers with a quoted preview (a quote-reply, or a broadcast reply's parent).
    reply_to_id: Mapped[int | None] = mapped_column(Integer)
    # A parent's thread, as its summary shows it: how many replies, the newest one's id and time,
    # and the last people to reply (user ids, newest first, space-separated). Changed with each
    # reply as a change of the parent (change_seq), so pages catch up on it like on an edit.
    # (Defaults on the server only: the prebuilt INSERT of messaging.py names just its own columns.)
    reply_count: Mapped[int] = mapped_column(Integer, server_default="0")
    last_reply_id: Mapped[int] = mapped_column(Integer, server_default="0")
    last_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    thread_repliers: Mapped[str] = mapped_column(Text, server_default=text("''"))

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

    @property
    def is_reply(self) -> bool:
        return self.thread_id is not None

    @property
    def in_channel(self) -> bool:
        """Shown in the channel's timeline: every message but a reply kept in its thread."""
        return self.thread_id is None or self.broadcast


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
    __table_args__ = (Index("ix_mentions_user_chat_message", "user_id", "chat_id", "message_id"),
                      # The Threads badge's "@": a person's mentions in replies kept in threads.
                      Index("ix_mentions_user_thread", "user_id", "thread_id", "message_id",
                            sqlite_where=text("thread_id IS NOT NULL"),
                            postgresql_where=text("thread_id IS NOT NULL")))

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    # A mention in a reply kept in its thread counts in the Threads view, not in the channel's "@".
    thread_id: Mapped[int | None] = mapped_column(Integer)


class ThreadFollow(db.Model):
    """A person following a thread: its replies count as unread for them, in the Threads view,
    from last_read_id on. following=False is an unfollow that a new reply of theirs or a mention
    undoes, and that the thread's first reply does not (core/threads.py)."""

    __tablename__ = "thread_follows"
    __table_args__ = (Index("ix_thread_follows_thread", "thread_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    following: Mapped[bool] = mapped_column(Boolean, default=True)
    last_read_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Workspace(db.Model):
    """The workspace's settings: one row (id 1), made with the defaults when first read
    (core/workspace.py: settings)."""

    __tablename__ = "workspace"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), default="webchat")
    # Who may register: "open" (anyone), "invite" (with an invitation link) or "closed".
    registration: Mapped[str] = mapped_column(String(8), default="invite")
    # Who may create public channels: "members" (everyone but guests) or "admins".
    channel_creators: Mapped[str] = mapped_column(String(8), default="members")
    # Seconds after sending during which a message may be edited; NULL: the server's setting.
    edit_window_seconds: Mapped[int | None] = mapped_column(Integer)
    # Megabytes one send may carry; NULL: the server's setting (WEBCHAT_MAX_UPLOAD_MB).
    max_upload_mb: Mapped[float | None] = mapped_column(Float)


class Invitation(db.Model):
    """A link that lets people register while registration is by invitation: it expires, is used
    up after max_uses registrations, can be revoked, and may be for one e-mail address only. Only
    the hash of its token is stored: the link is shown once, to the administrator who made it."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(8), default="member")  # "member" or "guest"
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    created_by: Mapped[User | None] = relationship()


class AuditEvent(db.Model):
    """One administrative action: who did what to whom, when. Append-only: the database refuses
    to change or delete a row (migration 0013's triggers)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The actor's @username as it was (None: the command line).
    actor_name: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))  # e.g. "user.deactivate", "channel.archive"
    # What the action was done to, as shown then: "@bob", "#design", "registration".
    target: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # e.g. "member → admin"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PushSubscription(db.Model):
    """One browser (device) of a person that receives Web Push: the push service's endpoint and
    the keys its payloads are encrypted to (RFC 8291). A 404 or 410 from the service removes it."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
                      Index("ix_push_subscriptions_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(Text)
    p256dh: Mapped[str] = mapped_column(String(128))
    auth: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(100), default="", server_default=text("''"))  # "Chrome on Linux"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationQueue(db.Model):
    """A person's message the notifier has not looked at yet: written by a trigger with the
    message (migration 0015), taken and deleted by one worker (core/notifier.py)."""

    __tablename__ = "notification_queue"

    message_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class Notification(db.Model):
    """One notification of one person by one way: "desktop" (a notice to their open tabs), "push"
    (every device they subscribed) or "email". A folding row takes in the next messages of its
    chat (count, message_id: the newest): "3 new messages in #general". state:
    due, sending (claimed by a worker until claimed_until), sent, failed."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "state", "due_at"),
                      Index("ix_notifications_user_chat", "user_id", "chat_id", "kind", "sent_at"),
                      Index("uq_notifications_folding", "user_id", "kind", "chat_id", unique=True,
                            sqlite_where=text("state = 'due' AND folds"),
                            postgresql_where=text("state = 'due' AND folds")))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # desktop, push, email
    reason: Mapped[str] = mapped_column(String(8))  # dm, mention, thread, all (core/notifications.py)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    thread_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The row that takes in a chat's messages arriving within NOTIFY_FOLD_SECONDS of its last
    # notification (at most one due per person, way and chat); the first of a window does not fold.
    folds: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    state: Mapped[str] = mapped_column(String(8), default="due", server_default="due")
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(db.Model):
    """A key to the API and the socket for a person's scripts or a bot (core/tokens.py): only the
    SHA-256 of its secret is kept (the secret is shown once); prefix tells tokens apart in lists."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("secret_hash", name="uq_api_tokens_secret_hash"),
                      Index("ix_api_tokens_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(32))  # "read" or "read write"
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def can_write(self) -> bool:
        return "write" in self.scopes.split()


class Webhook(db.Model):
    """A chat's webhook, posting as a bot. direction "incoming": a secret URL that takes a POST of
    {"text": …} (secret_hash: the SHA-256 of its secret); "outgoing": the chat's messages (or
    those starting with trigger) are POSTed to url, signed with signing_secret (core/webhooks.py)."""

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("secret_hash", name="uq_webhooks_secret_hash"),
                      Index("ix_webhooks_chat", "chat_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    bot_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))  # incoming, outgoing
    name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(Text)
    signing_secret: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[str | None] = mapped_column(String(32))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    bot: Mapped[User] = relationship(foreign_keys=[bot_id])
