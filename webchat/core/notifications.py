"""Who is notified of a message, and how: the one rule behind desktop notifications in open
tabs, Web Push to devices with no tab open, and e-mail for what stays unread.

Why a member is notified (the reason), in this order:
  mention  the message names them (@username), in the channel or in a thread;
  dm       it is a direct message to them;
  thread   it is a reply in a thread they follow;
  all      it shows in the channel and the chat notifies them of all messages.
Never of their own message, never in a chat they muted ("none"); under "mentions only", nothing
but a mention (not the chat's other messages, a direct message's or a followed thread's: the
level is the person's say over the chat). A reply kept in its thread notifies its followers and
the people it mentions, not the whole channel.

How (the ways), for each member with a reason:
  nothing while they have its place in view in a visible tab: the chat, or for a reply kept in
    its thread, the thread's pane (presence knows: live_state.views);
  during their do-not-disturb hours, neither a desktop notification nor a push;
  "desktop": a notice to their open tabs (static/notify.js shows it), when they have any;
  "push": to every device they subscribed, unless they have a visible tab (they are at the
    app, and its tab has notified them);
  "email": a direct message or mention that was not pushed, when they gave an address and did
    not unsubscribe and SMTP is set up: sent EMAIL_AFTER_MINUTES later if still unread then.
A desktop notification or push is sent at most once per chat per NOTIFY_FOLD_SECONDS: later
messages fold into the next one ("3 new messages in #general").

Outgoing webhooks (core/webhooks.py) are a way too, "webhook", for the hook's bot: every person's
message of the chat (never a bot's: two bots would answer each other forever), or, for a hook with
a trigger word, those whose first word is it and those that mention the bot (webhook_targets).

plan() writes the rows (models.Notification) in the notifier's transaction (core/notifier.py),
which then sends them off the send path.
"""
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, url_for
from sqlalchemy import and_, bindparam, case, exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import Chat, Membership, Mention, Message, Notification, PushSubscription, ThreadFollow, User, Webhook
from ..sanitize import plain_text
from ..templating import attachment_summary

REASONS = ("mention", "dm", "thread", "all")
WAYS = ("desktop", "push", "email", "webhook")
PREVIEW_CHARACTERS = 140  # of a notification's body: whole characters, "…" after 139
SENT, RETRY, FAILED, DROPPED = "sent", "retry", "failed", "dropped"  # a sender's outcomes for a row
FOLDING = "state = 'due' AND folds"  # the partial unique index of migration 0015


class Recipient(NamedTuple):
    """What the rule needs to know of one member (one query for the whole chat: recipients())."""
    user_id: int
    level: str  # the chat's notification level for them: all, mentions, none
    time_zone: str
    dnd_start: int | None
    dnd_end: int | None
    can_email: bool  # an address, not unsubscribed
    has_push: bool  # at least one device subscribed


class Facts(NamedTuple):
    """What the rule reads of a message and its chat, read once: the rule runs for every member."""
    chat_id: int
    author_id: int | None
    thread_id: int | None
    in_channel: bool
    is_direct: bool

    @classmethod
    def of(cls, message: Message, chat: Chat) -> "Facts":
        return cls(message.chat_id, message.author_id, message.thread_id, message.in_channel, chat.is_direct)


@dataclass(frozen=True)
class Planned:
    user_id: int
    kind: str  # desktop, push, email
    reason: str


def reason_for(message: Facts, user_id: int, level: str, mentioned: set[int], followers: set[int]) -> str | None:
    """Why this member (level: the chat's notification level for them) is notified of the
    message, or None (the first half of the rule above)."""
    if user_id == message.author_id or level == "none":
        return None
    if user_id in mentioned:
        return "mention"
    if level == "mentions":
        return None
    if message.is_direct:
        return "dm"
    if message.thread_id is not None and user_id in followers:
        return "thread"
    if message.in_channel:
        return "all"
    return None


def in_view(message: Facts, places: set[str]) -> bool:
    """Whether one of these views (live_state.views: "5", "5 t40") shows the message: its chat for
    a message of the channel, its thread's pane for a reply kept in its thread."""
    chat, thread = str(message.chat_id), f"t{message.thread_id}"
    for place in places:
        shown = place.split()
        if message.in_channel and shown[:1] == [chat]:
            return True
        if message.thread_id is not None and thread in shown[1:] and shown[:1] == [chat]:
            return True
    return False


def quiet_now(recipient: Recipient, now: datetime) -> bool:
    """Within the member's do-not-disturb hours (from dnd_start to dnd_end, minutes after midnight
    in their time zone; across midnight when the end is earlier than the start)."""
    start, end = recipient.dnd_start, recipient.dnd_end
    if start is None or end is None or start == end:
        return False
    try:
        local = now.astimezone(ZoneInfo(recipient.time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        local = now
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def ways_for(message: Facts, recipient: Recipient, reason: str, views: set[str] | None, online: bool,
             now: datetime) -> list[str]:
    """How this member is notified (the second half of the rule). views: the places they have in
    view in visible tabs, None when they have no visible tab; online: they have an open tab."""
    if views is not None and in_view(message, views):
        return []
    ways = []
    quiet = quiet_now(recipient, now)
    if not quiet and online:
        ways.append("desktop")
    if not quiet and recipient.has_push and views is None:
        ways.append("push")
    if reason in ("dm", "mention") and "push" not in ways and recipient.can_email \
            and current_app.config.get("SMTP_URL"):
        ways.append("email")
    return ways


# The members of a chat and their levels: all the rule's first half needs, read for every message.
_LEVELS = (select(Membership.user_id, Membership.notify).join(User, User.id == Membership.user_id)
           .where(Membership.chat_id == bindparam("chat"), User.is_active_account))


def recipients(chat_id: int, user_ids) -> dict[int, Recipient]:
    """These members of the chat with their level, quiet hours and where they can be reached."""
    has_push = exists().where(PushSubscription.user_id == User.id)
    rows = db.session.connection().execute(
        select(User.id, Membership.notify, User.time_zone, User.dnd_start, User.dnd_end,
               and_(User.email.is_not(None), User.email_notifications), has_push)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.chat_id == bindparam("chat"), User.id.in_(bindparam("users", expanding=True))),
        {"chat": chat_id, "users": sorted(user_ids)})
    return {row[0]: Recipient._make(row) for row in rows.all()}


class Round:
    """What deciding the messages of one notifier round reads once, not per message: their mention
    rows (one query), and per chat its members' levels, its viewers and its outgoing hooks. A
    round lasts a moment (core/notifier.py gathers a turn's sends into one), so a level or view
    changed within it counts from the next."""

    def __init__(self, message_ids=()) -> None:
        self._message_ids = set(message_ids)
        self._mentions: dict[int, set[int]] = {}
        if self._message_ids:
            for message_id, user_id in db.session.execute(
                    select(Mention.message_id, Mention.user_id).where(Mention.message_id.in_(self._message_ids))):
                self._mentions.setdefault(message_id, set()).add(user_id)
        self._chats: dict[int, tuple] = {}

    def mentioned(self, message_id: int) -> set[int]:
        if message_id in self._message_ids:
            return self._mentions.get(message_id, set())
        return set(db.session.scalars(select(Mention.user_id).where(Mention.message_id == message_id)))

    def chat(self, chat_id: int) -> tuple[list, dict[int, set[str]], list]:
        """The chat's members with their levels, its viewers (live_state.viewers) and its hooks."""
        if chat_id not in self._chats:
            connection = db.session.connection()
            self._chats[chat_id] = (connection.execute(_LEVELS, {"chat": chat_id}).all(),
                                    current_app.extensions["webchat.live_state"].viewers(chat_id),
                                    connection.execute(_HOOKS, {"chat": chat_id}).all())
        return self._chats[chat_id]


def decide(message: Message, now: datetime, known: Round | None = None) -> list[Planned]:
    """Who is notified of this message, and how (after its commit, off the send path). known:
    what its round has read already.

    The members' levels come first, in one small query, and those who have the message's place
    in view (one lookup of the chat's viewers) are passed over: in a busy chat that is most of
    them, and they get nothing. What the rest need besides is read for them alone."""
    chat = db.session.get(Chat, message.chat_id)
    if chat is None or message.is_system or message.is_deleted:
        return []
    known = known or Round()
    facts = Facts.of(message, chat)
    mentioned = known.mentioned(message.id)
    followers = set()
    if message.thread_id is not None:
        followers = set(db.session.scalars(select(ThreadFollow.user_id).where(
            ThreadFollow.thread_id == message.thread_id, ThreadFollow.following)))
    levels, viewers, hooks = known.chat(chat.id)
    planned = webhook_targets(message, mentioned, hooks)
    reasons = {}
    for user_id, level in levels:
        reason = reason_for(facts, user_id, level, mentioned, followers)
        if reason is not None:
            places = viewers.get(user_id)
            if places is None or not in_view(facts, places):  # else ways_for would answer nothing
                reasons[user_id] = reason
    if not reasons:
        return planned
    live = current_app.extensions["webchat.live_state"]
    people = recipients(chat.id, reasons)
    online = live.online(reasons)
    views = live.views(online) if online else {}
    for user_id, reason in reasons.items():
        if user_id not in people:
            continue  # left the chat meanwhile
        for way in ways_for(facts, people[user_id], reason, views.get(user_id), user_id in online, now):
            planned.append(Planned(user_id, way, reason))
    return planned


def triggered(text: str, trigger: str) -> bool:
    """Whether a message's text starts with the trigger word (its first word, in any case)."""
    first = text.split(maxsplit=1)[:1]
    return bool(first) and first[0].casefold() == trigger.casefold()


# A chat's outgoing webhooks whose bot is an active member: (bot id, trigger word or None).
_HOOKS = (select(Webhook.bot_id, Webhook.trigger)
          .join(Membership, and_(Membership.chat_id == Webhook.chat_id, Membership.user_id == Webhook.bot_id))
          .join(User, User.id == Webhook.bot_id)
          .where(Webhook.chat_id == bindparam("chat"), Webhook.direction == "outgoing", Webhook.revoked_at.is_(None),
                 User.is_active_account))


def webhook_targets(message: Message, mentioned: set[int], hooks: list) -> list[Planned]:
    """The outgoing webhooks of the message's chat (hooks: _HOOKS's rows) it goes to, as a
    "webhook" row for each hook's bot: a person's message only; for a hook with a trigger word,
    only one that starts with it or mentions the bot (mentioned: the user ids the message mentions)."""
    if not hooks:
        return []
    author = message.author
    if author is None or author.is_bot:
        return []
    planned = []
    for bot_id, trigger in hooks:
        if bot_id in mentioned:
            planned.append(Planned(bot_id, "webhook", "mention"))
        elif trigger is None or triggered(message.body, trigger):
            planned.append(Planned(bot_id, "webhook", "all"))
    return planned


def plan(message: Message, planned: list[Planned], now: datetime) -> None:
    """Write the notifications decided for a message (in the caller's transaction). A desktop
    notification or push is due at once unless the chat's last one for that person and way went
    (or is about to go) less than NOTIFY_FOLD_SECONDS ago: then the message goes into the row
    that folds the window's later messages, due when the window ends."""
    if not planned:
        return
    fold = timedelta(seconds=current_app.config["NOTIFY_FOLD_SECONDS"])
    folding = [p for p in planned if p.kind in ("desktop", "push")]
    opened = {}  # (user, way) -> when the chat's last notification went, or is due to go at once
    counted = set()  # (user, way) whose folding row took this message in
    if folding and fold:
        counted = _fold_into_due(message, folding)
        folding = [p for p in folding if (p.user_id, p.kind) not in counted]
    if folding and fold:
        table = Notification
        opened = {(user_id, kind): when for user_id, kind, when in db.session.execute(
            select(table.user_id, table.kind, func.max(func.coalesce(table.sent_at, table.due_at)))
            .where(table.chat_id == message.chat_id, table.kind.in_(("desktop", "push")),
                   table.user_id.in_({p.user_id for p in folding}),
                   or_(table.sent_at > now - fold, and_(table.state == "due", ~table.folds)))
            .group_by(table.user_id, table.kind))}
    email_at = now + timedelta(minutes=current_app.config["EMAIL_AFTER_MINUTES"])
    plain, folded = [], []
    for p in planned:
        if (p.user_id, p.kind) in counted:
            continue
        row = {"user_id": p.user_id, "kind": p.kind, "reason": p.reason, "chat_id": message.chat_id,
               "thread_id": message.thread_id, "message_id": message.id, "count": 1, "state": "due",
               "due_at": now, "attempts": 0, "folds": False}
        last = opened.get((p.user_id, p.kind))
        if p.kind == "email":
            row["due_at"] = email_at
            plain.append(row)
        elif last is None:
            plain.append(row)
        else:
            row["due_at"], row["folds"] = max(now, _aware(last) + fold), True
            folded.append(row)
    if plain:
        db.session.connection().execute(Notification.__table__.insert(), plain)
    if folded:
        db.session.connection().execute(_fold_statement(db.session.get_bind().dialect.name), folded)


def _fold_into_due(message: Message, folding: list[Planned]) -> set[tuple[int, str]]:
    """Count the message into the folding rows already due for these people and ways (one
    statement per way and reason, not a row each: in a busy chat most notifications fold);
    which (user, way) had one."""
    groups: dict[tuple[str, str], list[int]] = {}
    for p in folding:
        groups.setdefault((p.kind, p.reason), []).append(p.user_id)
    counted = set()
    for (kind, reason), user_ids in groups.items():
        counted.update((user_id, kind) for user_id in db.session.connection().execute(
            _COUNT_IN, {"in_chat": message.chat_id, "way": kind, "people": user_ids, "newest": message.id,
                        "in_thread": message.thread_id, "why": reason}).scalars())
    return counted


@cache
def _fold_statement(dialect_name: str):
    """Insert a folding row, or count one more message into the one due (executed with many rows:
    the statement is built once, not a VALUES list per call)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(Notification.__table__)
    table, new = Notification.__table__.c, statement.excluded
    newest = func.max if dialect is sqlite else func.greatest
    return statement.on_conflict_do_update(
        index_elements=["user_id", "kind", "chat_id"], index_where=text(FOLDING),
        set_={"count": table.count + 1, "message_id": newest(table.message_id, new.message_id),
              "thread_id": new.thread_id, "reason": _stronger(table.reason, new.reason)})


def _stronger(kept, new):
    """Of two reasons, the one that says most (REASONS order): a folded mention stays a mention."""
    whens = [(or_(kept == reason, new == reason), reason) for reason in REASONS[:-1]]
    return case(*whens, else_=REASONS[-1])


_folding = Notification.__table__.c
# One more message into the due folding rows of these people (FOLDING: at most one per chat and way).
_COUNT_IN = (update(Notification.__table__)
             .where(_folding.chat_id == bindparam("in_chat"), _folding.kind == bindparam("way"),
                    _folding.user_id.in_(bindparam("people", expanding=True)), _folding.state == "due", _folding.folds)
             .values(count=_folding.count + 1,
                     message_id=case((_folding.message_id > bindparam("newest"), _folding.message_id),
                                     else_=bindparam("newest")),
                     thread_id=bindparam("in_thread"), reason=_stronger(_folding.reason, bindparam("why")))
             .returning(_folding.user_id))


def _aware(when: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# ----- what a notification says ------------------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    """A notification's words and target, the same for a desktop notice, a push and an e-mail line."""
    title: str  # "Alice in Plans", "Alice" (a direct message), "Alice replied in a thread in Plans"
    body: str  # the message's plain text, cut to PREVIEW_CHARACTERS; "3 new messages" when folded
    url: str  # the message's own address (opens its chat, or its thread, at it)
    tag: str  # one notification per chat (per thread) on a device: a newer one replaces it
    chat_id: int
    thread_id: int | None
    message_id: int


def preview(message: Message) -> str:
    """The message's text as a notification shows it: plain text on one line, cut on whole characters."""
    text = " ".join((plain_text(message.html) or attachment_summary(message)).split())
    return text if len(text) <= PREVIEW_CHARACTERS else text[:PREVIEW_CHARACTERS - 1] + "…"


def notice(message: Message, chat: Chat, count: int = 1) -> Notice:
    """What a notification of this message (and count - 1 more of its chat before it) says."""
    author = message.author.display_name if message.author else "Deleted user"
    where = chat.name or ""
    reply = message.thread_id is not None and not message.in_channel
    if count > 1:
        title = where or author
        body = f"{count} new messages"
    else:
        title = author if not where else f"{author} replied in a thread in {where}" if reply else f"{author} in {where}"
        body = preview(message)
    thread_id = message.thread_id if reply else None
    anchor = f"t-{message.id}" if reply else f"m-{message.id}"  # its own address opens its thread at it
    return Notice(title=title, body=body,
                  url=url_for("chats.show_message", chat_id=chat.id, message_id=message.id, _anchor=anchor),
                  tag=f"webchat-thread-{thread_id}" if thread_id else f"webchat-{chat.id}",
                  chat_id=chat.id, thread_id=thread_id, message_id=message.id)


def notices(rows: list[Notification]) -> list[tuple[Notification, "Notice"]]:
    """Each row with what it says (its newest message, its count); rows whose message is gone or
    deleted say nothing and are dropped from the answer."""
    message_ids, chat_ids = {r.message_id for r in rows}, {r.chat_id for r in rows}
    messages = {m.id: m for m in db.session.scalars(select(Message).where(Message.id.in_(message_ids)))}
    chats = {c.id: c for c in db.session.scalars(select(Chat).where(Chat.id.in_(chat_ids)))}
    answer = []
    for row in rows:
        message = messages.get(row.message_id)
        if message is None or message.is_deleted or row.chat_id not in chats:
            continue
        answer.append((row, notice(message, chats[row.chat_id], row.count)))
    return answer
