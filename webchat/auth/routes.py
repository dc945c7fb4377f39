"""Register, log in, log out, and the account settings page."""
from urllib.parse import urlsplit

from flask import after_this_request, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user, user_loaded_from_cookie
from flask_wtf.csrf import generate_csrf
from werkzeug.exceptions import RequestEntityTooLarge

from ..core import accounts, attachments, avatars, channels, invitations, sessions
from ..errors import render_error
from ..extensions import limiter
from . import bp, devices


def start_session(user, remember: bool = False) -> None:
    """Sign in as a new login session, recorded on the server: logging out ends exactly it (and
    closes its sockets), and its expiry holds whatever the cookies say."""
    login = sessions.begin(user, remember)
    login_user(user, remember=remember)
    # The login id is the session's, not just the user's: the remember-me cookie made from it
    # dies with this login session.
    session["_user_id"] = sessions.login_id(user, login)
    session["sid"] = login.id
    user.login_session_id = login.id
    after_this_request(lambda response: devices.remember(response, user))


@user_loaded_from_cookie.connect
def _name_restored_session(app, user=None, **extra) -> None:
    """A browser signed back in by its remember-me cookie continues that cookie's login session."""
    session["sid"] = user.login_session_id


FAILED_LOGIN = 401
DEACTIVATED = 403


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


def _login_device_key() -> str:
    return "login-device:" + (devices.known_device() or "")


def _trusted() -> bool:
    return devices.known_device() is not None


def _untrusted() -> bool:
    return not _trusted()


def _failed(response) -> bool:
    # A deactivated account's answer proves the password right: it counts like a failure.
    return response.status_code in (FAILED_LOGIN, DEACTIVATED)


def _login_failure_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def shared_address_limit(limit: str) -> str:
    """A per-account limit as the limit of one network address: several people can share one (an
    office NAT), so together they get four times as much."""
    count, _, period = limit.partition(" per ")
    return f"{int(count) * 4} per {period}"


def _address_failure_limit() -> str:
    return shared_address_limit(_login_failure_limit())


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_failure_limit, key_func=_login_account_key, methods=["POST"], deduct_when=_failed,
               exempt_when=_trusted)
@limiter.limit(_address_failure_limit, key_func=_login_address_key, methods=["POST"], deduct_when=_failed,
               exempt_when=_trusted)
@limiter.limit(_login_failure_limit, key_func=_login_device_key, methods=["POST"], deduct_when=_failed,
               exempt_when=_untrusted)
def login():
    """Sign in with username and password; repeated failures are refused for a while: per
    account and per address, or per device for a browser that signed in to the account before."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if request.method == "POST":
        try:
            user = accounts.authenticate(request.form.get("username"), request.form.get("password"))
        except accounts.Deactivated:
            return render_template("auth/login.html", error="This account has been deactivated. Ask the "
                                   "person who runs this webchat to reactivate it.",
                                   username=request.form.get("username", "")), DEACTIVATED
        except accounts.IsBot as e:
            return render_template("auth/login.html", error=f"@{e} is a bot: bots have no password and can't sign in "
                                   "here. A program uses one of its access tokens, made on the Bots page by its owner.",
                                   username=request.form.get("username", "")), FAILED_LOGIN
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
    """Create an account and sign in, while the registration mode lets anyone (or no one has yet)."""
    if refusal := invitations.registration_refusal():
        return render_template("auth/register.html", refusal=refusal, errors={}, form={}), \
            (403 if request.method == "POST" else 200)
    if request.method == "POST":
        try:
            user = accounts.register(request.form.get("username"), request.form.get("display_name"),
                                     request.form.get("password"))
        except accounts.AccountError as e:
            return render_template("auth/register.html", errors=e.errors, form=request.form), 422
        return welcome_in(user)
    return render_template("auth/register.html", errors={}, form={})


def welcome_in(user):
    """Sign a new account in and take it where everyone is (#general), saying where things are;
    with no default channel, to the home page and its first-run guide."""
    start_session(user)
    landing = channels.landing_channel(user)
    if landing is None:
        return redirect(url_for("chats.dashboard"))
    flash(f"Welcome, {user.display_name}! You're in #{landing.name} with everyone. Your chats are in the list; "
          f"“Browse channels” finds more, and “New message” starts a conversation.")
    return redirect(url_for("chats.show_chat", chat_id=landing.id))


@bp.app_template_global()
def registration_possible() -> bool:
    """The login page links to /register only when it would make an account."""
    return invitations.registration_refusal() is None


@bp.post("/logout")
def logout():
    """Sign out of this browser; its open sockets close."""
    sid = session.get("sid")
    if current_user.is_authenticated and sid:
        accounts.sign_out(current_user.id, sid)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """Account settings: display name, chat preferences, colour theme, password change."""
    errors = {}
    if request.method == "POST":
        if request.form.get("action") == "profile":
            try:
                accounts.change_display_name(current_user._get_current_object(), request.form.get("display_name"))
            except accounts.AccountError as e:
                errors = e.errors
            else:
                flash("Display name saved.")
                return redirect(url_for("auth.settings"))
        if request.form.get("action") == "preferences":
            accounts.save_preferences(current_user._get_current_object(),
                                      hide_system_messages=bool(request.form.get("hide_system_messages")),
                                      hide_presence=bool(request.form.get("hide_presence")),
                                      send_read_receipts=bool(request.form.get("send_read_receipts")))
            flash("Preferences saved.")
            return redirect(url_for("auth.settings"))
        if request.form.get("action") == "theme":
            try:
                accounts.save_theme(current_user._get_current_object(), request.form.get("theme"))
            except accounts.AccountError as e:
                errors = e.errors
            else:
                flash("Theme saved.")
                return redirect(url_for("auth.settings"))
        if request.form.get("action") == "password":
            try:
                accounts.change_password(current_user._get_current_object(), request.form.get("current_password"),
                                         request.form.get("new_password"))
            except accounts.AccountError as e:
                errors = e.errors
            else:
                start_session(current_user._get_current_object())
                flash("Password changed. Other browsers have been signed out.")
                return redirect(url_for("auth.settings"))
    return _settings_page(errors, 422 if errors else 200)


def _settings_page(errors: dict, status: int, **context):
    """The settings page, with the refusal of whichever of its forms was sent (context: what one
    of its sections shows besides, e.g. a new access token)."""
    return render_template("auth/settings.html", errors=errors, themes=accounts.THEMES, **context), status


def _avatar_key() -> str:
    # Limits are checked before the view's login check: a visitor is counted by address.
    return f"avatar:{current_user.id}" if current_user.is_authenticated else get_remote_address()


@bp.post("/settings/avatar")
@login_required
@limiter.limit("30 per hour", key_func=_avatar_key)  # each picture is decoded and shrunk
def avatar():
    """Upload a picture to show beside one's messages, or remove it (back to initials)."""
    user = current_user._get_current_object()
    try:
        if request.form.get("action") == "remove":
            avatars.remove_avatar(user)
            flash("Picture removed.")
        else:
            avatars.set_avatar(user, request.files.get("avatar"))
            flash("Picture saved.")
    except accounts.AccountError as e:
        return _settings_page(e.errors, 422)
    return redirect(url_for("auth.settings"))


@bp.app_template_global()
def max_avatar_bytes() -> int:
    return avatars.MAX_AVATAR_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(e):
    """A body past MAX_CONTENT_LENGTH is cut off unread: say so where the picture was chosen."""
    if request.endpoint != "auth.avatar":
        return render_error(413)
    limit = attachments.human_size(avatars.MAX_AVATAR_BYTES)
    errors = {"avatar": f"That picture is larger than {limit}. Your picture was not changed."}
    return _settings_page(errors, 413)


@bp.get("/csrf-token")
def csrf_token():
    """A freshly signed CSRF token, for a page open longer than a token lives (static/csrf.js)."""
    response = jsonify(token=generate_csrf(), lifetime=current_app.config["WTF_CSRF_TIME_LIMIT"])
    response.headers["Cache-Control"] = "no-store"
    return response
