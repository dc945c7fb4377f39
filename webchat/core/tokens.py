"""Access tokens: how programs (a person's scripts, bots) sign in to the API and the socket.

A token is "wc_" and 43 random URL-safe characters, shown once when made; the database keeps its
SHA-256 (a fast hash is right for 256 random bits: nothing to guess) and its first characters as
a prefix to tell it apart. Scopes: "read" (everything a member may see) or "read write" (also
send, edit, delete, react, upload). A token works while it is not revoked and its user is active;
revoking one, or deactivating its user, closes its sockets within a second (as signing out does:
the control channel's "session-ended token:<id>", and session_guard for what that misses).
"""
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import ApiToken, User, utcnow
from ..text_rules import unstorable, without_controls
from .broadcasts import publish_control
from .errors import ChatError, not_found

PREFIX = "wc_"
SCOPES = {"read": "read", "write": "read write"}  # as chosen in Settings -> as stored
MAX_TOKENS = 50  # per user: enough for every script, few enough to list
MAX_NAME = 64
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


SESSION_PREFIX = "token:"
_SESSION_ID = re.compile(re.escape(SESSION_PREFIX) + r"(\d{1,18})", re.ASCII)


def session_id(token: ApiToken) -> str:
    """The sign-in id a token's sockets carry (socket/session_guard.py, "session-ended <id>")."""
    return f"{SESSION_PREFIX}{token.id}"


def is_session_id(sid: str | None) -> bool:
    """Whether a socket's sign-in id is a token's (session_id) rather than a login session's."""
    return bool(sid) and sid.startswith(SESSION_PREFIX)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create(user: User, name: str, scope: str, created_by: User | None = None) -> NewToken:
    """Make a token for user (a person's own, or a bot's made by its owner or an administrator)."""
    name = clean_name(name)
    if scope not in SCOPES:
        raise ChatError("Choose what the token may do: read, or read and write.", 422)
    live = tokens_of(user)
    if any(token.name.casefold() == name.casefold() for token in live):
        raise ChatError(f"There is a token called “{name}” already: give this one another name, "
                        "to tell them apart later.", 422)
    if len(live) >= MAX_TOKENS:
        whose = "You have" if created_by is None or created_by.id == user.id else f"@{user.username} has"
        raise ChatError(f"{whose} {MAX_TOKENS} tokens already, the most there may be. Revoke one first.", 409)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=secret[:11], secret_hash=digest(secret),
                     scopes=SCOPES[scope], created_by_id=(created_by or user).id, created_at=utcnow())
    db.session.add(token)
    db.session.commit()
    return NewToken(token, secret)


def clean_name(typed: str | None) -> str:
    """A token's name as kept (white space made single spaces, invisible characters dropped);
    ChatError when there is none left, it is too long, or holds a character no column can keep."""
    typed = typed or ""
    if unstorable(typed):
        raise ChatError("That name contains a character webchat can't store (a NUL or an unpaired surrogate).", 422)
    name = " ".join(without_controls(typed).split())
    if not name or len(name) > MAX_NAME:
        raise ChatError(f"Give the token a name of 1 to {MAX_NAME} characters, to tell it apart later.", 422)
    return name


def authenticate(secret: str | None) -> ApiToken | None:
    """The live token this secret is (not revoked, its user active), or None."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active_account:
        return None
    now = utcnow()
    last = token.last_used_at
    if last is None or (last if last.tzinfo else last.replace(tzinfo=now.tzinfo)) < now - LAST_USED_EVERY:
        token.last_used_at = now
        db.session.commit()
    return token


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def token_of(user: User, token_id: int) -> ApiToken:
    """One of the user's tokens that still work; the usual 404 for any other (someone else's, revoked)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise not_found()
    return token


def revoke(token: ApiToken) -> None:
    """The token stops working at once; its sockets close."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
    publish_control([token.user_id], f"session-ended {session_id(token)}")


def live_ids(ids) -> set[int]:
    """Which of these token ids still work (session_guard's check for token sockets)."""
    ids = sorted(set(ids))
    live: set[int] = set()
    for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit, with room to spare
        live.update(db.session.scalars(
            select(ApiToken.id).join(User, User.id == ApiToken.user_id)
            .where(ApiToken.id.in_(ids[start:start + 500]), ApiToken.revoked_at.is_(None),
                   User.is_active_account.is_(True))))
    return live


def live_sessions(sids) -> set[str]:
    """Which of these socket sign-in ids are of tokens that still work (is_session_id; others are
    left out: they are login sessions', for core/sessions.still_live)."""
    ids = {int(match[1]) for sid in sids if sid and (match := _SESSION_ID.fullmatch(sid))}
    return {f"{SESSION_PREFIX}{token_id}" for token_id in live_ids(ids)}


def revoke_all(user: User) -> None:
    """Every token of the user stops working (they or the bot's owner deactivated, the bot deactivated)."""
    ids = [t.id for t in tokens_of(user)]
    if ids:
        db.session.execute(update(ApiToken).where(ApiToken.id.in_(ids)).values(revoked_at=utcnow()))
    db.session.commit()
    for token_id in ids:
        publish_control([user.id], f"session-ended {SESSION_PREFIX}{token_id}")
