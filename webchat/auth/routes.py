"""Register, log in, log out, and the account settings page."""
import secrets
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user, user_loaded_from_cookie

from ..extensions import db, limiter
from ..realtime.hub import publish_control
from . import accounts, bp


def start_session(user, remember: bool = False) -> None:
    """Sign in and name this browser's session, so logging out can close exactly its sockets."""
    login_user(user, remember=remember)
    session["sid"] = secrets.token_hex(8)


@user_loaded_from_cookie.connect
def _name_restored_session(app, user=None, **extra) -> None:
    """A browser signed back in by its remember-me cookie starts a session too: name it, or
    logging out of it would leave its sockets open."""
    if not session.get("sid"):
        session["sid"] = secrets.token_hex(8)


FAILED_LOGIN = 401


def safe_next(target: str | None) -> str:
    """A same-site path to go to after login; anything pointing elsewhere becomes the dashboard."""
    default = url_for("chats.dashboard")
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or target.startswith("//"):
        return default
    return target


def _login_account_key() -> str:
    return "login-account:" + (request.form.get("username") or "").strip().lower()[:64]


def _login_address_key() -> str:
    return "login-address:" + get_remote_address()


def _failed(response) -> bool:
    return response.status_code == FAILED_LOGIN


def _login_failure_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def _address_failure_limit() -> str:
    # Several people can share one address (an office NAT): allow them more together.
    count, _, period = _login_failure_limit().partition(" per ")
    return f"{int(count) * 4} per {period}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_failure_limit, key_func=_login_account_key, methods=["POST"], deduct_when=_failed)
@limiter.limit(_address_failure_limit, key_func=_login_address_key, methods=["POST"], deduct_when=_failed)
def login():
    """Sign in with username and password; repeated failures are refused for a while."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if request.method == "POST":
        user = accounts.authenticate(request.form.get("username"), request.form.get("password"))
        if user is None:
            return render_template("auth/login.html", error="Wrong username or password.",
                                   username=request.form.get("username", "")), FAILED_LOGIN
        start_session(user, remember=bool(request.form.get("remember")))
        return redirect(safe_next(request.args.get("next") or request.form.get("next")))
    return render_template("auth/login.html")


def _register_limit() -> str:
    return current_app.config["REGISTER_LIMIT"]


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
def register():
    """Create an account and sign in."""
    if request.method == "POST":
        try:
            user = accounts.register(request.form.get("username"), request.form.get("display_name"),
                                     request.form.get("password"))
        except accounts.AccountError as e:
            return render_template("auth/register.html", errors=e.errors, form=request.form), 422
        start_session(user)
        return redirect(url_for("chats.dashboard"))
    return render_template("auth/register.html", errors={}, form={})


@bp.post("/logout")
def logout():
    """Sign out of this browser; its open sockets close."""
    if current_user.is_authenticated and session.get("sid"):
        publish_control([current_user.id], f"session-ended {session['sid']}")
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Account settings: system messages on or off, password change."""
    errors = {}
    if request.method == "POST":
        if request.form.get("action") == "preferences":
            current_user.hide_system_messages = bool(request.form.get("hide_system_messages"))
            current_user.hide_presence = bool(request.form.get("hide_presence"))
            current_user.send_read_receipts = bool(request.form.get("send_read_receipts"))
            db.session.commit()
            flash("Preferences saved.")
            return redirect(url_for("auth.settings"))
        if request.form.get("action") == "password":
            if not current_user.check_password(request.form.get("current_password", "")):
                errors["current_password"] = "That is not your current password."
            elif problem := accounts.password_error(request.form.get("new_password", "")):
                errors["new_password"] = problem
            else:
                # A new session token signs out every other browser and remember-me cookie.
                current_user.set_password(request.form["new_password"])
                db.session.commit()
                publish_control([current_user.id], "credentials-changed")
                start_session(current_user._get_current_object())
                flash("Password changed. Other browsers have been signed out.")
                return redirect(url_for("auth.settings"))
    return render_template("auth/settings.html", errors=errors), (422 if errors else 200)
