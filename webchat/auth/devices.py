"""Device cookies: a browser that has signed in to an account is told apart from everyone else
trying its password (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

Failed logins are limited per account, so anyone could lock an owner out by guessing wrong five
times. A sign-in leaves a long-lived signed cookie naming the account and a random nonce; a
login attempt for that account presenting it counts against the nonce's own limit instead of
the account's and the address's (auth/routes.py). Guessers without one are throttled as before.

The signature's salt holds the account's session token, which a password change replaces: every
device cookie issued before it stops counting, as every session does.
"""
import secrets
from datetime import timedelta

from flask import current_app, g, request, url_for
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..text_rules import unstorable

COOKIE = "webchat_device"
LIFETIME = timedelta(days=365)


def _signer(user: User) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"webchat-device:{user.session_token}")


def remember(response, user: User):
    """Mark this browser as one the user signs in from (a fresh nonce each sign-in)."""
    value = _signer(user).dumps([user.id, secrets.token_urlsafe(16)])
    # Only the login form needs it; Secure over https (security.secure_cookies_on_https).
    response.set_cookie(COOKIE, value, max_age=int(LIFETIME.total_seconds()), path=url_for("auth.login"),
                        httponly=True, samesite="Lax")
    return response


def known_device() -> str | None:
    """The nonce of the device cookie this login attempt presents for the account it names, or
    None (no cookie, another account's, tampered, expired, or from before a password change)."""
    if "login_device" not in g:
        g.login_device = _verify(request.cookies.get(COOKIE), request.form.get("username"))
    return g.login_device


def _verify(value: str | None, username: str | None) -> str | None:
    name = (username or "").strip().lower()
    if not value or not name or unstorable(name):
        return None
    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        return None
    try:  # another account's cookie fails here too: its salt holds that account's token
        user_id, nonce = _signer(user).loads(value, max_age=int(LIFETIME.total_seconds()))
    except (BadData, TypeError, ValueError):
        return None
    return nonce if user_id == user.id and isinstance(nonce, str) else None
