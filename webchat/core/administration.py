"""What a workspace administrator does to people and settings: find people, deactivate and
reactivate them, change their role, give them a one-time password reset link, change the
workspace's settings. Each action checks its rule (core/workspace.py), stores the change and its
audit line in one transaction, and publishes what open pages must learn."""
import hashlib
import logging
import math

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import AuditEvent, User
from ..text_rules import unstorable, without_controls
from . import accounts, mail, sessions, workspace
from .broadcasts import publish_control
from .errors import ChatError, not_found

log = logging.getLogger(__name__)
PEOPLE_SHOWN = 100
AUDIT_PAGE = 50
RESET_LINK_SECONDS = 24 * 60 * 60
MAX_WORKSPACE_NAME = 80
MAX_EDIT_WINDOW_MINUTES = 7 * 24 * 60
# What the settings form calls each setting, in the audit line and in its detail.
REGISTRATION_WORDS = {"open": "Open: anyone can create an account", "invite": "By invitation only",
                      "closed": "Closed: no new accounts"}
CHANNEL_CREATOR_WORDS = {"members": "Members and administrators", "admins": "Administrators only"}


class SettingsError(Exception):
    """The settings form was refused, field by field (name → words); nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


# ----- people ----------------------------------------------------------------------------------

def find_people(typed: str | None, limit: int = PEOPLE_SHOWN) -> list[User]:
    """Everyone whose username or display name contains what was typed (everyone, for nothing),
    by username; deactivated accounts too, since they are the ones to reactivate."""
    typed = (typed or "").strip().removeprefix("@")
    query = select(User).order_by(User.username).limit(limit)
    if typed and not unstorable(typed):
        pattern = "%" + typed.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(User.username).like(pattern, escape="\\"),
                                func.lower(User.display_name).like(pattern, escape="\\")))
    return list(db.session.scalars(query))


def person(username: str) -> User:
    """The account named username; the usual 404 when there is none."""
    user = None if unstorable(username) else db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise not_found()
    return user


def set_active(actor: User, username: str, active: bool) -> User:
    """Deactivate someone (signed out everywhere, their open pages' sockets closed) or reactivate
    them; refused for oneself and, but by the owner, for the owner."""
    target = person(username)
    workspace.check_may_manage(actor, target)
    if target.is_active_account == active:
        return target  # already so: nothing to do, nothing to log
    workspace.record(actor, "user.reactivate" if active else "user.deactivate", f"@{target.username}")
    accounts.set_active(target, active)  # commits the audit line with the change
    return target


def change_role(actor: User, username: str, role: str | None) -> User:
    """Give someone another workspace role. Only an owner makes an owner or changes one; since no
    one changes their own role here, the owner who acts stays, and the workspace keeps an owner.
    Roles are read on each request; the person's open pages are sent what the new role shows."""
    target = person(username)
    workspace.check_may_manage(actor, target)
    if role not in workspace.ROLES:
        raise ChatError("Pick one of the roles shown.", 422)
    if target.is_bot and role != target.role:
        raise ChatError("A bot keeps the member role: what it may do is what its tokens allow.", 409)
    if role == target.role:
        return target
    if "owner" in (role, target.role) and actor.role != "owner":
        raise ChatError("Only the owner can make someone an owner or change an owner's role.", 403)
    before = target.role
    target.role = role
    if before == "owner" and not _owners_left():
        raise ChatError("The workspace must keep an owner: make someone else owner first.", 409)
    workspace.record(actor, "user.role", f"@{target.username}",
                     f"{workspace.ROLE_NAMES[before]} → {workspace.ROLE_NAMES[role]}")
    db.session.commit()
    publish_control([target.id], "role")  # their open pages show or hide what the role allows
    return target


def _owners_left() -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(
        User.role == "owner", User.is_active_account.is_(True)))


# ----- password reset links ----------------------------------------------------------------------

def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _fingerprint(user: User) -> str:
    # Both change when the password is set (User.set_password): a used link stops working, and so
    # does one made before the person changed their password themselves.
    return hashlib.sha256(f"{user.password_hash}:{user.session_token}".encode()).hexdigest()[:24]


def password_reset_token(actor: User, username: str) -> tuple[User, str]:
    """A token for a one-time link that lets the person set a new password within 24 hours; the
    administrator is shown it once (it is not stored: its signature and fingerprint prove it)."""
    target = person(username)
    workspace.check_may_manage(actor, target)
    if target.is_bot:
        raise ChatError("A bot has no password: it signs in with access tokens, made on the Bots page.", 409)
    if not target.is_active_account:
        raise ChatError("Reactivate this account first: a deactivated account can't set a password.", 409)
    workspace.record(actor, "user.password_reset_link", f"@{target.username}")
    db.session.commit()
    return target, reset_token(target)


def reset_token(user: User) -> str:
    """The token of a reset link for this person (an administrator's, or one e-mailed to them:
    core/mail.py), good until used or 24 hours old."""
    return _reset_serializer().dumps({"user": user.id, "fp": _fingerprint(user)})


def email_reset_links(address: str) -> int:
    """E-mail a reset link to every active account with this address ("Forgot your password?");
    how many were sent. The asker is answered the same whatever this finds."""
    if not mail.configured():
        return 0
    sent = 0
    for user in db.session.scalars(select(User).where(User.email == address, User.is_active_account)).all():
        link = mail.absolute(url_for("auth.reset_password", token=reset_token(user)))
        try:
            mail.deliver(mail.compose(user.email, f"Set a new password for {workspace.name()}", "reset",
                                      user=user, link=link))
            sent += 1
        except mail.MailError as e:
            log.warning("mail.reset_not_sent user=%d reason=%s", user.id, e)
    return sent


def user_for_reset(token: str) -> User:
    """The person a reset link is for, while it is unused and less than 24 hours old; otherwise a
    ChatError saying which (410, or 404 for a link that was never one)."""
    try:
        claims = _reset_serializer().loads(token, max_age=RESET_LINK_SECONDS)
    except SignatureExpired:
        raise ChatError("This password reset link has expired (links last 24 hours). "
                        "Ask an administrator for a new one.", 410) from None
    except BadSignature:
        raise ChatError("This is not a valid password reset link. Check that it was copied whole, "
                        "or ask an administrator for a new one.", 404) from None
    user = db.session.get(User, claims.get("user")) if isinstance(claims, dict) else None
    if user is None or not user.is_active_account or user.is_bot:
        raise ChatError("This password reset link no longer works: the account is deactivated.", 410)
    if claims.get("fp") != _fingerprint(user):
        raise ChatError("This password reset link has already been used. "
                        "Ask an administrator for a new one.", 410)
    return user


def reset_password(token: str, new: str | None) -> User:
    """Set the person's password from a reset link, which then stops working; every sign-in of
    theirs ends and their sockets close, as a password change does."""
    user = user_for_reset(token)
    if problem := accounts.password_error(new or ""):
        raise accounts.AccountError({"new_password": problem})
    user.set_password(new)
    sessions.end_all(user.id)
    db.session.commit()
    publish_control([user.id], "credentials-changed")
    return user


# ----- workspace settings ------------------------------------------------------------------------

def edit_window_minutes() -> int | None:
    """The message edit window as the settings form shows it: minutes, None for no limit."""
    seconds = workspace.edit_window_seconds()
    return max(1, round(seconds / 60)) if seconds else None


def save_settings(actor: User, form) -> list[str]:
    """Save the settings form (name, registration, channel_creators, edit_window_minutes,
    max_upload_mb); SettingsError, saving nothing, names each field refused. Returns what changed,
    as the audit line's detail lists it."""
    workspace.require_admin(actor)
    errors: dict[str, str] = {}
    chosen = _read_settings(form, errors)
    if errors:
        raise SettingsError(errors)
    current = workspace.settings()
    shown = {"name": "name", "registration": "registration", "channel_creators": "public channels by",
             "edit_window_seconds": "edit window", "max_upload_mb": "upload limit"}
    changes = []
    for field, value in chosen.items():
        before = getattr(current, field)
        if before != value:
            changes.append(f"{shown[field]}: {_setting_words(field, before)} → {_setting_words(field, value)}")
            setattr(current, field, value)
    if changes:
        workspace.record(actor, "workspace.settings", "workspace", "; ".join(changes))
        db.session.commit()
    return changes


def _read_settings(form, errors: dict[str, str]) -> dict:
    """The settings typed into the form, as stored; each refused field's words go into errors."""
    chosen = {}
    typed = form.get("name") or ""
    name = None if unstorable(typed) else " ".join(without_controls(typed).split())
    if name is None:
        errors["name"] = "That name contains a character webchat can't store (a NUL or an unpaired surrogate)."
    elif not name:
        errors["name"] = "Give the workspace a name (it shows in the top bar and in every tab's title)."
    elif len(name) > MAX_WORKSPACE_NAME:
        errors["name"] = f"Workspace names can be at most {MAX_WORKSPACE_NAME} characters."
    chosen["name"] = name
    chosen["registration"] = form.get("registration")
    if chosen["registration"] not in workspace.REGISTRATION_MODES:
        errors["registration"] = "Pick one of the registration modes shown."
    chosen["channel_creators"] = form.get("channel_creators")
    if chosen["channel_creators"] not in workspace.CHANNEL_CREATORS:
        errors["channel_creators"] = "Pick who may create public channels."
    minutes = (form.get("edit_window_minutes") or "").strip()
    if not minutes:
        chosen["edit_window_seconds"] = 0  # off: messages stay editable
    elif minutes.isdigit() and 1 <= int(minutes) <= MAX_EDIT_WINDOW_MINUTES:
        chosen["edit_window_seconds"] = int(minutes) * 60
    else:
        errors["edit_window_minutes"] = (f"Type the minutes as a whole number from 1 to {MAX_EDIT_WINDOW_MINUTES} "
                                         "(a week), or leave it empty so messages can always be edited.")
    server = workspace.server_upload_mb()
    try:
        megabytes = float((form.get("max_upload_mb") or "").strip().replace(",", "."))
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and 0 < megabytes <= server):
        errors["max_upload_mb"] = (f"Type a size in MB above 0 and at most {_megabytes(server)} MB, "
                                   "the most this server accepts (WEBCHAT_MAX_UPLOAD_MB).")
    chosen["max_upload_mb"] = megabytes
    return chosen


def _megabytes(value: float) -> str:
    return f"{value:g}"


def _setting_words(field: str, value) -> str:
    if field == "edit_window_seconds":
        return "server default" if value is None else (f"{value // 60} min" if value else "off")
    if field == "max_upload_mb":
        return "server default" if value is None else f"{_megabytes(value)} MB"
    return str(value)


# ----- the audit log -----------------------------------------------------------------------------

def audit_page(before: int | None = None) -> tuple[list[AuditEvent], int | None]:
    """A page of the audit log, newest first, and the id to ask for older ones with (None: no more)."""
    events = workspace.audit_log(limit=AUDIT_PAGE + 1, before=before)
    return events[:AUDIT_PAGE], (events[AUDIT_PAGE - 1].id if len(events) > AUDIT_PAGE else None)
