"""Access tokens: how programs (a person's scripts, bots) sign in to the API and the socket.

A token is "wc_" and 43 random URL-safe characters, shown once when made; the database keeps its
SHA-256 (a fast hash is right for 256 random bits: nothing to guess) and its first characters as
a prefix to tell it apart. Scopes: "read" (everything a member may see) or "read write" (also
send, edit, delete, react, upload). A token works while it is not revoked and its user is active;
revoking one, or deactivating its user, closes its sockets within a second (as signing out does:
the control channel's "session-ended token:<id>", and session_guard for what that misses).
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import ApiToken, User, utcnow
from .broadcasts import publish_control
from .errors import ChatError

PREFIX = "wc_"
SCOPES = {"read": "read", "write": "read write"}  # as chosen in Settings -> as stored
MAX_TOKENS = 50  # per user: enough for every script, few enough to list
MAX_NAME = 64
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def session_id(token: ApiToken) -> str:
    """The sign-in id a token's sockets carry (socket/session_guard.py, "session-ended <id>")."""
    return f"token:{token.id}"


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create(user: User, name: str, scope: str, created_by: User | None = None) -> NewToken:
    """Make a token for user (a person's own, or a bot's made by its owner or an administrator)."""
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise ChatError(f"Give the token a name of 1 to {MAX_NAME} characters, to tell it apart later.", 422)
    if scope not in SCOPES:
        raise ChatError("Choose what the token may do: read, or read and write.", 422)
    count = db.session.scalar(select(db.func.count()).select_from(ApiToken)
                              .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
    if count >= MAX_TOKENS:
        raise ChatError(f"{user.display_name} has {MAX_TOKENS} tokens already. Revoke one first.", 409)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=secret[:11], secret_hash=digest(secret),
                     scopes=SCOPES[scope], created_by_id=(created_by or user).id, created_at=utcnow())
    db.session.add(token)
    db.session.commit()
    return NewToken(token, secret)


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


def revoke(token: ApiToken) -> None:
    """The token stops working at once; its sockets close."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
    publish_control([token.user_id], f"session-ended {session_id(token)}")


def live_ids(ids) -> set[int]:
    """Which of these token ids still work (session_guard's check for token sockets)."""
    ids = list(ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(ApiToken.id).join(User, User.id == ApiToken.user_id)
                                  .where(ApiToken.id.in_(ids), ApiToken.revoked_at.is_(None), User.is_active_account)))


def revoke_all(user: User) -> None:
    """Every token of the user stops working (their owner deactivated, the bot deleted)."""
    ids = [t.id for t in tokens_of(user)]
    db.session.execute(update(ApiToken).where(ApiToken.id.in_(ids)).values(revoked_at=utcnow()))
    db.session.commit()
    for token_id in ids:
        publish_control([user.id], f"session-ended token:{token_id}")
