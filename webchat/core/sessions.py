"""Login sessions kept on the server: a signed cookie alone no longer proves a live sign-in.

Each sign-in is a row named by a random id that the session and remember-me cookies carry in
the login id ("<user id>:<credential generation>:<login session id>"). Invariant: no row, no
sign-in: logging out deletes it, its expiry ends a remember-me cookie on the server's clock,
and socket/session_guard.py closes sockets whose row has gone.
"""
import secrets
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from flask import current_app, session
from sqlalchemy import Boolean, DateTime, ForeignKey, String, and_, bindparam, delete, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import DriverStatement
from ..extensions import db
from ..models import User, utcnow


class LoginSession(db.Model):
    """One browser's sign-in, from login (or registration) until logout, expiry or revocation."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The server's own end of the sign-in; a cookie presented later is refused whatever it says.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    user: Mapped[User] = relationship()


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def lifetime(remember: bool) -> timedelta:
    """How long a sign-in lasts: the remember-me duration, else the session lifetime."""
    config = current_app.config
    value = config["REMEMBER_COOKIE_DURATION"] if remember else config["PERMANENT_SESSION_LIFETIME"]
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


def begin(user: User, remember: bool) -> LoginSession:
    """Record a new sign-in of user (committed) and clear out sign-ins that have expired."""
    now = utcnow()
    db.session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    login = LoginSession(id=secrets.token_hex(16), user_id=user.id, remember=remember, created_at=now,
                         expires_at=now + lifetime(remember))
    db.session.add(login)
    db.session.commit()
    return login


def login_id(user: User, login: LoginSession) -> str:
    """What flask-login keeps in the session and in the remember-me cookie."""
    return f"{user.id}:{user.session_token}:{login.id}"


def cookie_login_id() -> str | None:
    """The login id the request's session cookie names (flask-login's "_user_id"), unless
    flask-login's session protection rejects the cookie: what the early answers (an idle poll, a
    socket's handshake) check with one statement instead of flask-login's user load."""
    login_id = session.get("_user_id")
    if login_id is None or current_app.login_manager._session_protection_failed():
        return None
    return login_id


def parse_login_id(value: str) -> tuple[int, str, str] | None:
    user_id, token, sid = (value.split(":") + ["", "", ""])[:3]
    if not user_id.isdigit() or not token or not sid:
        return None
    return int(user_id), token, sid


def live_user(value: str) -> User | None:
    """The user a login id names, if that sign-in is still live: one query."""
    parsed = parse_login_id(value)
    if parsed is None:
        return None  # ids from before login sessions existed: sign in again
    user_id, token, sid = parsed
    user = db.session.scalar(select(User).join(LoginSession, LoginSession.user_id == User.id)
                             .where(live_sign_in(sid, user_id, token, utcnow())))
    if user is not None:
        user.login_session_id = sid
    return user


def live_sign_in(sid, user_id, token, now):
    """The rule for a live sign-in, as a condition on login_sessions joined to users (the
    arguments: values, or bind parameters): its row exists and names the login id's user, it has
    not expired by `now`, and the user is active with the login id's credential generation."""
    return and_(LoginSession.id == sid, LoginSession.user_id == user_id, User.id == LoginSession.user_id,
                LoginSession.expires_at > now, User.session_token == token, User.is_active_account)


class SignedIn(NamedTuple):
    """The few fields of a signed-in user that a socket keeps (socket/tab.py), read by
    signed_in(); to flask-login it is the request's user (is_authenticated)."""
    id: int
    username: str
    display_name: str
    hide_presence: bool
    last_seen_at: datetime | None
    session_token: str
    login_session_id: str
    is_authenticated = True  # a class attribute: flask-login's and add_security_headers' question


def signed_in(value: str) -> SignedIn | None:
    """As live_user, the same rule (live_sign_in), in one driver statement on a pooled connection
    and with no ORM row: every socket's handshake asks, thousands at once after a restart."""
    parsed = parse_login_id(value)
    if parsed is None:
        return None
    user_id, token, sid = parsed
    engine = db.engine
    rows = _SIGNED_IN.on_pool(engine, {"sid": sid, "user": user_id, "token": token, "now": utcnow()})
    if not rows:
        return None
    uid, username, display_name, hide_presence, last_seen_at, session_token = rows[0]
    # SQLite keeps datetimes as text: converted as the ORM converts them.
    convert = _last_seen_processor(engine.dialect)
    return SignedIn(uid, username, display_name, bool(hide_presence),
                    convert(last_seen_at) if convert else last_seen_at, session_token, sid)


_SIGNED_IN = DriverStatement(
    select(User.id, User.username, User.display_name, User.hide_presence, User.last_seen_at, User.session_token)
    .select_from(LoginSession).join(User, User.id == LoginSession.user_id)
    .where(live_sign_in(bindparam("sid"), bindparam("user"), bindparam("token"), bindparam("now"))))


def _last_seen_processor(dialect):
    column_type = User.__table__.c.last_seen_at.type
    return column_type.dialect_impl(dialect).result_processor(dialect, None)


def end(sid: str | None) -> None:
    """Log out one sign-in: every copy of its cookies stops working (the caller commits)."""
    if sid:
        db.session.execute(delete(LoginSession).where(LoginSession.id == sid))


def end_all(user_id: int) -> None:
    """Log out every sign-in of a user (the caller commits)."""
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))


def still_live(sids) -> set[str]:
    """Which of these sign-ins are live now (their user active, not expired). (A program's socket
    carries a token's id instead: socket/session_guard.py asks core/tokens.live_sessions for those.)"""
    sids = [s for s in set(sids) if s]
    live: set[str] = set()
    now = utcnow()
    for start in range(0, len(sids), 500):  # SQLite's bound-parameter limit, with room to spare
        rows = db.session.execute(
            select(LoginSession.id, LoginSession.expires_at, User.is_active_account)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.id.in_(sids[start:start + 500]))
        ).all()
        live.update(row.id for row in rows if row.is_active_account and _utc(row.expires_at) > now)
    return live
