"""Webhooks: a chat's doors for other programs, each posting as a bot of its own.

Incoming: a secret URL (/hooks/<secret>, shown once; the SHA-256 of the secret is kept) that
takes {"text": …} (Slack's shape) and posts it as the hook's bot, through messaging.send_message
like any member's message. Outgoing: a person's message in the chat (all of them, or with a
trigger word only those starting with it or mentioning the bot) is POSTed as JSON to a URL, signed
"t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>" (X-Webchat-Signature) with the hook's signing
secret. Which messages go to which hook is the notification rule's (core/notifications.py:
webhook_targets, a row of kind "webhook" for the bot); the notifier sends them off the send path
(send_webhooks, its "webhook" lane) with its retries and backoff, through core/outbound.py (no
private addresses, checked at connect time). A 2xx answer carrying {"text": …} is posted back as
the bot. Message text is never logged.

Who manages a chat's hooks: its admins, and workspace administrators who are in it.
"""
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, url_for
from sqlalchemy import func, or_, select
from urllib3.exceptions import HTTPError

from ..extensions import db
from ..models import Chat, Membership, Message, Notification, User, Webhook, utcnow
from ..realtime.event_loop import under_gevent
from ..text_rules import name_skeleton, unstorable
from . import accounts, bots, messaging, outbound
from .errors import ChatError, not_found
from .notifications import DROPPED, FAILED, RETRY, SENT
from .read_only import check_writable
from .service import announce_membership, find_membership

log = logging.getLogger(__name__)

MAX_HOOKS_PER_CHAT = 20
MAX_URL = 2000
TRIGGER = re.compile(r"^\S{1,32}$")
SECRET_CHARACTERS = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
SIGNING_PREFIX = "whsec_"
CONCURRENT_DELIVERIES = 20  # one slow receiver holds up only its own delivery


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewHook:
    webhook: Webhook
    secret: str  # incoming: the URL's secret (shown once); outgoing: the signing secret


# ----- managing a chat's hooks -------------------------------------------------------------------

def may_manage(user: User, chat: Chat, membership: Membership | None) -> bool:
    """A channel's admins, and the workspace's administrators in it, manage its webhooks."""
    if chat.is_direct or membership is None or user.is_bot:
        return False
    return membership.is_admin or user.is_workspace_admin


def _manager(chat: Chat, user: User) -> Membership:
    """The user's membership of the chat if they may manage its hooks; ChatError otherwise."""
    membership = find_membership(chat.id, user)
    if membership is None:
        raise not_found()
    if chat.is_direct:
        raise ChatError("A direct message has no webhooks: add them to a channel.", 400)
    if not may_manage(user, chat, membership):
        raise ChatError("Only the chat's admins (and the workspace's administrators) manage its webhooks.", 403)
    return membership


def hooks_of(chat_id: int) -> list[Webhook]:
    """The chat's webhooks that work, oldest first."""
    return list(db.session.scalars(select(Webhook).where(Webhook.chat_id == chat_id, Webhook.revoked_at.is_(None))
                                   .order_by(Webhook.id)))


def _check_room(chat: Chat) -> None:
    check_writable(chat)
    count = db.session.scalar(select(func.count()).select_from(Webhook)
                              .where(Webhook.chat_id == chat.id, Webhook.revoked_at.is_(None)))
    if count >= MAX_HOOKS_PER_CHAT:
        raise ChatError(f"This chat has {MAX_HOOKS_PER_CHAT} webhooks already. Revoke one first.", 409)


def _bot_name(typed: str | None) -> str:
    """The name a hook's bot shows under: any but one that looks like a person's (two hooks in two
    chats may both be "Deploys"; no hook may pass for Bob)."""
    name = accounts.clean_display_name(typed)
    if not name:
        raise ChatError("Give the webhook a name: its messages show under it.")
    if len(name) > accounts.MAX_DISPLAY_NAME or unstorable(name):
        raise ChatError(f"Give the webhook a name of at most {accounts.MAX_DISPLAY_NAME} characters, "
                        "without NUL or unpaired surrogate characters.")
    skeleton = name_skeleton(name)
    person = db.session.scalar(select(func.min(User.username)).where(
        or_(User.username_skeleton == skeleton, User.display_skeleton == skeleton), ~User.is_bot))
    if person is not None:
        raise ChatError(f"That name looks too much like a person's (@{person}). Choose another.")
    return name


def _bot_username(name: str) -> str:
    """hook-<slug of the name>, unique (a few random characters more when taken)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:20].strip("-") or "bot"
    username = f"hook-{slug}"
    while db.session.scalar(select(User.id).where(User.username == username)) is not None:
        username = f"hook-{slug}-{secrets.token_hex(3)}"
    return username


def _add_bot(chat: Chat, creator: User, name: str) -> User:
    """A bot for a new hook, owned by its creator, made a member of the chat (a chat event says so);
    the caller commits. It never signs in with a password (bots.NO_PASSWORD matches none)."""
    bot = User(username=_bot_username(name), display_name=name, is_bot=True, bot_owner_id=creator.id,
               password_hash=bots.NO_PASSWORD)
    db.session.add(bot)
    chat.memberships.append(Membership(user=bot))
    return bot


def _store(chat: Chat, creator: User, bot: User, **fields) -> Webhook:
    hook = Webhook(chat_id=chat.id, bot=bot, name=bot.display_name, created_by_id=creator.id, created_at=utcnow(),
                   **fields)
    db.session.add(hook)
    event = messaging.add_system_message(chat, f"{creator.display_name} added the webhook {bot.display_name}")
    db.session.commit()
    announce_membership(chat, event)
    log.info("webhook.created id=%d chat=%d direction=%s", hook.id, chat.id, hook.direction)
    return hook


def create_incoming(chat: Chat, creator: User, name: str | None) -> NewHook:
    """A secret URL that posts into the chat as a new bot named name; the secret is shown once."""
    _manager(chat, creator)
    _check_room(chat)
    bot = _add_bot(chat, creator, _bot_name(name))
    secret = secrets.token_urlsafe(32)
    return NewHook(_store(chat, creator, bot, direction="incoming", secret_hash=digest(secret)), secret)


def check_target(url: str | None) -> str:
    """The URL cleaned, if webhooks may post to it now: http(s), and a host that resolves to public
    addresses only (or allow-listed); ChatError saying why not, otherwise."""
    url = (url or "").strip()
    if not url:
        raise ChatError("Give the address the chat's messages are posted to (https://…).")
    if len(url) > MAX_URL:
        raise ChatError(f"That address is longer than {MAX_URL:,} characters.")
    try:
        outbound.check_url(url)
        parts = urlsplit(url)
        outbound.safe_addresses(outbound.host_of(url), parts.port or (443 if parts.scheme == "https" else 80),
                                allowed_hosts())
    except outbound.Refused as e:
        raise ChatError(f"Webhooks can't post to that address: {e}.") from e
    except LookupError as e:
        raise ChatError(f"Webhooks can't post to that address: {e}. Check its spelling.") from e
    return url


def create_outgoing(chat: Chat, creator: User, name: str | None, url: str | None,
                    trigger: str | None = None) -> NewHook:
    """The chat's messages (or those starting with the trigger word or mentioning the bot) posted
    to url, signed with a new secret (shown to the chat's admins with the hook)."""
    _manager(chat, creator)
    _check_room(chat)
    name = _bot_name(name)
    trigger = (trigger or "").strip() or None
    if trigger is not None and not TRIGGER.fullmatch(trigger):
        raise ChatError("A trigger word is one word of at most 32 characters, like !deploy.")
    url = check_target(url)
    bot = _add_bot(chat, creator, name)
    secret = SIGNING_PREFIX + secrets.token_urlsafe(32)
    hook = _store(chat, creator, bot, direction="outgoing", url=url, signing_secret=secret, trigger=trigger)
    return NewHook(hook, secret)


def hook_of_chat(chat: Chat, actor: User, hook_id: int) -> Webhook:
    """One live hook of the chat, for someone who manages its hooks; ChatError otherwise."""
    _manager(chat, actor)
    hook = db.session.get(Webhook, hook_id) if 0 < hook_id <= messaging.MAX_ID else None
    if hook is None or hook.chat_id != chat.id or hook.revoked_at is not None:
        raise ChatError("That webhook is not one of this chat's (or it was revoked already).", 404)
    return hook


def revoke(chat: Chat, actor: User, hook_id: int) -> Webhook:
    """The hook stops at once: its URL answers 404, nothing more is posted to it; its bot leaves the
    chat (its messages stay, under its name) and is deactivated."""
    hook = hook_of_chat(chat, actor, hook_id)
    hook.revoked_at = utcnow()
    bot = hook.bot
    bot.is_active_account = False
    gone = next((m for m in chat.memberships if m.user_id == bot.id), None)
    if gone is not None:
        chat.memberships.remove(gone)
    event = messaging.add_system_message(chat, f"{actor.display_name} removed the webhook {hook.name}")
    db.session.commit()
    announce_membership(chat, event)
    log.info("webhook.revoked id=%d chat=%d", hook.id, chat.id)
    return hook


# ----- incoming ----------------------------------------------------------------------------------

def incoming(secret: str | None) -> Webhook | None:
    """The live incoming hook this URL secret opens, or None."""
    if not secret or not SECRET_CHARACTERS.fullmatch(secret):
        return None
    hook = db.session.scalar(select(Webhook).where(Webhook.secret_hash == digest(secret)))
    if hook is None or hook.revoked_at is not None or hook.direction != "incoming" or not hook.bot.is_active_account:
        return None
    return hook


def post_incoming(hook: Webhook, text: str | None, client_id: str | None = None) -> messaging.SendResult:
    """Post text into the hook's chat as its bot: the send of any member (one permission check, one
    store, one publication; a repeated client_id stores nothing new). ChatError as a send's."""
    sender = messaging.sender_in(hook.chat_id, hook.bot_id, client_id)
    if sender is None:  # the bot was removed from the chat by hand: the hook has nowhere to post
        raise ChatError("This webhook's bot is no longer in the chat. Ask an admin for a new webhook.", 404)
    return messaging.send_message(sender, text, client_id)


# ----- outgoing: what the notifier's "webhook" lane sends -----------------------------------------

def allowed_hosts() -> frozenset[str]:
    return frozenset(current_app.config.get("WEBHOOK_ALLOWED_HOSTS") or ())


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Webchat-Signature value: "t=<timestamp>,v1=<hex HMAC-SHA256 of '<timestamp>.<body>'>"."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def event(hook: Webhook, message: Message, chat: Chat) -> dict:
    """What an outgoing hook is posted about a message (type "message.created")."""
    author = message.author
    return {
        "type": "message.created",
        "chat": {"id": chat.id, "name": chat.name, "kind": chat.kind,
                 "url": url_for("chats.show_chat", chat_id=chat.id, _external=True)},
        "message": {"id": message.id, "text": message.body, "html": message.html,
                    "created_at": message.created_at.isoformat(), "thread_id": message.thread_id,
                    "url": url_for("chats.show_message", chat_id=chat.id, message_id=message.id, _external=True),
                    "author": {"id": author.id, "username": author.username, "display_name": author.display_name,
                               "is_bot": author.is_bot} if author else None},
        "webhook": {"id": hook.id, "name": hook.name, "trigger": hook.trigger,
                    "bot": {"id": hook.bot_id, "username": hook.bot.username}},
    }


@dataclass
class Delivery:
    """One row's POST, prepared with the database, sent without it (in a greenlet of its own)."""
    row_id: int
    hook_id: int
    url: str
    body: bytes
    headers: dict
    outcome: str = RETRY
    reply: str | None = None


def _prepare(rows: list[Notification]) -> tuple[list[Delivery], dict[int, str]]:
    hooks = {(h.bot_id, h.chat_id): h for h in db.session.scalars(
        select(Webhook).where(Webhook.bot_id.in_({r.user_id for r in rows}), Webhook.direction == "outgoing",
                              Webhook.revoked_at.is_(None)))}
    messages = {m.id: m for m in db.session.scalars(
        select(Message).where(Message.id.in_({r.message_id for r in rows})))}
    chats = {c.id: c for c in db.session.scalars(select(Chat).where(Chat.id.in_({r.chat_id for r in rows})))}
    deliveries, outcomes = [], {}
    for row in rows:
        hook, message = hooks.get((row.user_id, row.chat_id)), messages.get(row.message_id)
        if hook is None or message is None or message.is_deleted or row.chat_id not in chats:
            outcomes[row.id] = DROPPED  # revoked meanwhile, or nothing left to say
            continue
        body = json.dumps(event(hook, message, chats[row.chat_id]), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": "webchat-webhooks/1",
                   "X-Webchat-Timestamp": str(timestamp),
                   "X-Webchat-Signature": sign(hook.signing_secret, timestamp, body),
                   "X-Webchat-Delivery": f"{hook.id}-{message.id}"}
        deliveries.append(Delivery(row.id, hook.id, hook.url, body, headers))
    return deliveries, outcomes


def deliver(delivery: Delivery, timeout: float, allowed: frozenset[str], resolver=outbound._resolve) -> Delivery:
    """POST one delivery; set its outcome (and the reply to post back, if any). No database here."""
    try:
        answer = outbound.post(delivery.url, delivery.body, delivery.headers, timeout, allowed, resolver)
    except outbound.Refused as e:
        log.warning("webhook.refused hook=%d row=%d reason=%s", delivery.hook_id, delivery.row_id, e)
        delivery.outcome = FAILED
        return delivery
    except (LookupError, HTTPError, OSError) as e:
        log.info("webhook.unreachable hook=%d row=%d error=%s", delivery.hook_id, delivery.row_id, type(e).__name__)
        delivery.outcome = RETRY
        return delivery
    log.info("webhook.answered hook=%d row=%d status=%d", delivery.hook_id, delivery.row_id, answer.status)
    if 200 <= answer.status < 300:
        delivery.outcome, delivery.reply = SENT, _reply_text(answer)
    elif answer.status >= 500 or answer.status in (408, 425, 429):
        delivery.outcome = RETRY
    else:
        delivery.outcome = FAILED  # the receiver says this will never work (401, 404, 410…)
    return delivery


def _reply_text(answer: outbound.Answer) -> str | None:
    """The {"text": …} of a 2xx answer, if it carries one."""
    if not answer.body.strip():
        return None
    try:
        data = json.loads(answer.body)
    except ValueError:
        return None
    text = data.get("text") if isinstance(data, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def send_webhooks(rows: list[Notification]) -> dict[int, str]:
    """The notifier's sender for kind "webhook": POST each row's message to its bot's hook, all at
    once under gevent; post the replies back as the bots."""
    deliveries, outcomes = _prepare(rows)
    db.session.commit()  # no transaction held open while receivers take their time
    timeout, allowed = current_app.config["WEBHOOK_TIMEOUT_SECONDS"], allowed_hosts()
    if under_gevent() and len(deliveries) > 1:
        from gevent.pool import Pool
        Pool(CONCURRENT_DELIVERIES).map(lambda d: deliver(d, timeout, allowed), deliveries)
    else:
        for delivery in deliveries:
            deliver(delivery, timeout, allowed)
    by_id = {row.id: row for row in rows}
    for delivery in deliveries:
        outcomes[delivery.row_id] = delivery.outcome
        if delivery.reply is not None:
            _post_reply(by_id[delivery.row_id], delivery)
    return outcomes


def _post_reply(row: Notification, delivery: Delivery) -> None:
    """A receiver's answer, posted as the bot (in the thread of the message it answers, if any);
    its client id makes a retried round post it once."""
    message = db.session.get(Message, row.message_id)
    client_id = f"hook{delivery.hook_id}-re{row.message_id}"
    sender = messaging.sender_in(row.chat_id, row.user_id, client_id)
    if sender is None or message is None:
        return
    try:
        messaging.send_message(sender, delivery.reply, client_id, thread_id=message.thread_id)
    except ChatError as e:
        db.session.rollback()
        log.info("webhook.reply_refused hook=%d row=%d status=%d", delivery.hook_id, row.id, e.status)


def init_app(app) -> None:
    """The notifier's "webhook" way (registered here: the notifier imports no sender that sends messages)."""
    app.extensions.setdefault("webchat.notify_senders", {})["webhook"] = send_webhooks

