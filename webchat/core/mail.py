"""E-mail: the SMTP sender, missed-message e-mails and their one-click unsubscribe, and what an
e-mail address may be (settings, invitations). Reset links by e-mail: core/administration.py.

Sending uses the standard library (smtplib, email.message) over TLS only: smtp:// must offer
STARTTLS, smtps:// speaks TLS from the start. The notifier (core/notifier.py) hands
send_notifications the e-mail rows it claimed, each person's together, so what a person missed
comes in one e-mail; a password reset e-mail is sent off the request (in_background).
"""
import hashlib
import logging
import re
import smtplib
import ssl
from collections import defaultdict
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from ..extensions import db
from ..models import Chat, Membership, Message, Notification, ThreadFollow, User
from . import notifications, workspace
from .errors import ChatError
from .notifications import DROPPED, FAILED, RETRY, SENT

log = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "email-unsubscribe"
MAX_EMAIL = 254
# One plain address: none of the characters that would make a mail header name more than one.
EMAIL = re.compile(r'^[^@\s,;:<>()\[\]\\"\x00-\x1f\x7f]+@[^@\s,;:<>()\[\]\\"\x00-\x1f\x7f]+$')


# ----- the sender ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    tls: bool  # TLS from the start (smtps://); otherwise STARTTLS, which the server must offer
    username: str | None
    password: str | None


class MailError(Exception):
    """The e-mail was not sent; permanent: the server refused the address for good (5xx), so
    trying again would not help. Anything else (refused connection, timeout, 4xx) may pass."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


def smtp_settings(url: str | None) -> Smtp | None:
    """SMTP_URL read: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465; None
    when unset. ValueError for any other scheme: e-mail is never sent in the clear."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("WEBCHAT_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
    tls = parts.scheme == "smtps"
    return Smtp(host=parts.hostname, port=parts.port or (465 if tls else 587), tls=tls,
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None)


def configured() -> bool:
    """Whether this webchat sends e-mail at all."""
    return bool(current_app.config.get("SMTP_URL"))


def _tls_context() -> ssl.SSLContext:
    # A private CA (or a test's self-signed certificate) may be trusted besides the system's.
    return ssl.create_default_context(cafile=current_app.config.get("SMTP_CA_FILE") or None)


def deliver(message: EmailMessage) -> None:
    """Hand one e-mail to the SMTP server; MailError if it was not taken."""
    smtp = smtp_settings(current_app.config.get("SMTP_URL"))
    if smtp is None:
        raise MailError("no SMTP server configured", permanent=True)
    timeout = current_app.config["SMTP_TIMEOUT_SECONDS"]
    try:
        if smtp.tls:
            server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=_tls_context())
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        with server:
            if not smtp.tls:
                server.starttls(context=_tls_context())  # SMTPNotSupportedError: never on in the clear
            if smtp.username:
                server.login(smtp.username, smtp.password or "")
            server.send_message(message)
    except smtplib.SMTPRecipientsRefused as e:
        # Refused for good (5xx: no such mailbox) is final; anything else may pass later.
        codes = sorted(code for code, _ in e.recipients.values())
        raise MailError(f"recipient refused {codes}", permanent=all(code >= 500 for code in codes)) from None
    except (smtplib.SMTPException, OSError) as e:  # refused, down, timed out, TLS failed, 4xx
        raise MailError(f"{type(e).__name__} {getattr(e, 'smtp_code', '')}".strip()) from None


def compose(to: str, subject: str, template: str, headers: dict[str, str] | None = None, **context) -> EmailMessage:
    """An e-mail from templates/mail/<template>.txt with its .html as the alternative."""
    message = EmailMessage()
    sender = current_app.config["MAIL_FROM"]
    message["From"] = sender
    message["To"] = to
    message["Subject"] = " ".join(subject.split())  # a name with a line break must not break the header
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    for name, value in (headers or {}).items():
        message[name] = value
    context = {"workspace": workspace.name(), **context}
    message.set_content(render_template(f"mail/{template}.txt", **context))
    message.add_alternative(render_template(f"mail/{template}.html", **context), subtype="html")
    return message


def absolute(path: str) -> str:
    """A path of the app as a link that works from an e-mail (BASE_URL: there is no request)."""
    return current_app.config["BASE_URL"] + path


# ----- e-mail for what was missed ----------------------------------------------------------------

@dataclass(frozen=True)
class Missed:
    """One line of the e-mail: a message the person has not read."""
    chat: str  # "#plans", or the author's name for a direct message
    author: str
    preview: str
    link: str
    reason: str  # mention, dm


def send_notifications(rows: list[Notification]) -> dict[int, str]:
    """One e-mail per person for their claimed e-mail rows still unread; the outcome of each row."""
    outcomes: dict[int, str] = {}
    by_person: dict[int, list[Notification]] = defaultdict(list)
    for row in rows:
        by_person[row.user_id].append(row)
    for user_id, theirs in by_person.items():
        user = db.session.get(User, user_id)
        waiting = unread(user, theirs) if _emailable(user) else []
        outcomes.update({row.id: DROPPED for row in theirs})
        if not waiting:
            continue
        try:
            deliver(missed_email(user, [line for _, line in waiting]))
        except MailError as e:
            log.warning("mail.not_sent user=%d rows=%d reason=%s", user_id, len(waiting), e)
            outcome = FAILED if e.permanent else RETRY
        else:
            outcome = SENT
        outcomes.update({row.id: outcome for row, _ in waiting})
    return outcomes


def _emailable(user: User | None) -> bool:
    return user is not None and user.is_active_account and bool(user.email) and user.email_notifications


def unread(user: User, rows: list[Notification]) -> list[tuple[Notification, Missed]]:
    """The rows whose message the person still has not read (in the chat, or for a reply kept in
    its thread, in the thread), is not deleted, and is in a chat they are still in; with their lines."""
    messages = {m.id: m for m in db.session.scalars(select(Message).where(
        Message.id.in_({r.message_id for r in rows})))}
    read_upto = dict(db.session.execute(select(Membership.chat_id, Membership.last_read_message_id).where(
        Membership.user_id == user.id, Membership.chat_id.in_({r.chat_id for r in rows}))).all())
    thread_read = dict(db.session.execute(select(ThreadFollow.thread_id, ThreadFollow.last_read_id).where(
        ThreadFollow.user_id == user.id,
        ThreadFollow.thread_id.in_({m.thread_id for m in messages.values() if m.thread_id})
    )).all())
    answer = []
    for row in sorted(rows, key=lambda r: r.message_id):
        message = messages.get(row.message_id)
        if message is None or message.is_deleted or row.chat_id not in read_upto:
            continue
        seen = read_upto[row.chat_id] if message.in_channel else thread_read.get(message.thread_id, 0)
        if message.id <= seen:
            continue
        chat = db.session.get(Chat, row.chat_id)
        notice = notifications.notice(message, chat)
        author = message.author.display_name if message.author else "Deleted user"
        answer.append((row, Missed(chat=author if chat.is_direct else f"#{chat.name}", author=author,
                                   preview=notice.body, link=absolute(notice.url), reason=row.reason)))
    return answer


def missed_email(user: User, lines: list[Missed]) -> EmailMessage:
    """The e-mail of what a person missed, with its one-click unsubscribe (RFC 8058)."""
    if len(lines) > 1:
        subject = f"{len(lines)} unread messages in {workspace.name()}"
    elif lines[0].reason == "mention":
        subject = f"{lines[0].author} mentioned you in {lines[0].chat}"
    else:
        subject = f"{lines[0].author} sent you a direct message"
    unsubscribe = absolute(url_for("auth.unsubscribe", token=unsubscribe_token(user)))
    return compose(user.email, subject, "missed", lines=lines, user=user, unsubscribe=unsubscribe,
                   settings=absolute(url_for("auth.settings")),
                   headers={"List-Unsubscribe": f"<{unsubscribe}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


# ----- unsubscribe ---------------------------------------------------------------------------------

def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def _address_digest(address: str) -> str:
    # The link names the address by a digest: it is bound to it without showing it in logs.
    return hashlib.sha256(address.encode()).hexdigest()[:16]


def unsubscribe_token(user: User) -> str:
    """The token of a person's unsubscribe link: theirs, for the address the e-mail went to."""
    return _unsubscribe_serializer().dumps({"user": user.id, "to": _address_digest(user.email or "")})


def user_for_unsubscribe(token: str) -> User:
    """The person an unsubscribe link is for; ChatError 404 for a link that is not one, or whose
    address is no longer theirs (they changed it: the new one was never sent this link)."""
    try:
        claims = _unsubscribe_serializer().loads(token)
    except BadSignature:
        raise ChatError("This is not a valid unsubscribe link. Check that it was copied whole, or turn "
                        "e-mails off in Settings.", 404) from None
    user = db.session.get(User, claims.get("user")) if isinstance(claims, dict) else None
    if user is None or not user.email or claims.get("to") != _address_digest(user.email):
        raise ChatError("This unsubscribe link is for an address this account no longer uses. "
                        "Turn e-mails off in Settings.", 404)
    return user


def unsubscribe(token: str) -> User:
    """Stop the e-mails about missed messages to the person the link is for (again: no change)."""
    user = user_for_unsubscribe(token)
    if user.email_notifications:
        user.email_notifications = False
        db.session.commit()
        log.info("mail.unsubscribed user=%d", user.id)
    return user


# ----- addresses and the settings ---------------------------------------------------------------

def clean_email(typed: str | None) -> str | None:
    """An address as kept and compared (trimmed, lower-cased), None for none; ChatError if it
    can't be one. (Invitations for one address use it too.)"""
    email = (typed or "").strip().lower()
    if not email:
        return None
    if len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise ChatError("Type an e-mail address like name@example.com, or leave it empty.")
    return email


def save_settings(user: User, address: str | None, notify: bool) -> None:
    """Keep a person's e-mail address (empty: none) and whether missed mentions and direct
    messages are e-mailed to it. ChatError for what can't be an address."""
    user.email = clean_email(address)
    user.email_notifications = notify
    db.session.commit()


# ----- off the request ---------------------------------------------------------------------------

def in_background(job, *args) -> None:
    """Run job(*args) off this request: under gevent in a greenlet of its own, so the answer waits
    on neither the database lookup nor the SMTP server (and its time tells nothing); else (an
    in-process test, a command) now."""
    from gevent import monkey
    if not monkey.is_module_patched("socket"):
        job(*args)
        return
    import gevent
    app = current_app._get_current_object()

    def run():
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            try:
                job(*args)
            except Exception:
                log.exception("mail.background_failed")
            finally:
                db.session.remove()
    gevent.spawn(run)
