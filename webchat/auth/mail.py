"""What e-mail brings to the account pages (core/mail.py sends it): the e-mail settings, the
one-click unsubscribe of missed-message e-mails, and "Forgot your password?"."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from ..core import administration, mail
from ..core.errors import ChatError
from ..extensions import csrf, db, limiter
from . import bp
from .routes import _settings_page, shared_address_limit


@bp.post("/settings/email")
@login_required
def email_settings():
    """Save one's e-mail address and whether missed mentions and direct messages are e-mailed."""
    try:
        mail.save_settings(current_user._get_current_object(), request.form.get("email"),
                           notify=bool(request.form.get("email_notifications")))
    except ChatError as e:
        db.session.rollback()
        return _settings_page({"email": e.message}, 422)
    flash("E-mail settings saved.")
    return redirect(url_for("auth.settings"))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the authority; mail clients POST "List-Unsubscribe=One-Click" (RFC 8058)
def unsubscribe(token: str):
    """An unsubscribe link: the page asks (a button, no script needed); its POST, or a mail
    client's one-click POST, turns the e-mails off."""
    try:
        if request.method == "POST":
            person = mail.unsubscribe(token)
            return render_template("auth/unsubscribe.html", person=person, done=True)
        person = mail.user_for_unsubscribe(token)
    except ChatError as e:
        db.session.rollback()
        return render_template("auth/unsubscribe.html", link_error=e.message), e.status
    return render_template("auth/unsubscribe.html", person=person, done=not person.email_notifications)


def _typed_address() -> str:
    return (request.form.get("email") or "").strip().lower()[:254]


def _address_key() -> str:
    return "forgot-address:" + _typed_address()


def _password_mail_limit() -> str:
    return current_app.config["PASSWORD_MAIL_LIMIT"]


def _asker_limit() -> str:
    return shared_address_limit(_password_mail_limit())


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_password_mail_limit, key_func=_address_key, methods=["POST"])
@limiter.limit(_asker_limit, key_func=lambda: "forgot-asker:" + get_remote_address(), methods=["POST"])
def forgot_password():
    """Ask for a reset link by e-mail; the answer is the same whether an account has the address
    or not, and comes before anything is looked up (mail.in_background)."""
    if not mail.configured():
        return render_template("auth/forgot.html", by_email=False)
    if request.method == "POST":
        try:
            address = mail.clean_email(request.form.get("email"))
        except ChatError as e:
            return render_template("auth/forgot.html", by_email=True, error=e.message,
                                   email=request.form.get("email", "")), 422
        if address is None:
            return render_template("auth/forgot.html", by_email=True,
                                   error="Type the e-mail address of your account."), 422
        mail.in_background(administration.email_reset_links, address)
        return render_template("auth/forgot.html", by_email=True, asked=address)
    return render_template("auth/forgot.html", by_email=True)


@bp.app_template_global()
def email_configured() -> bool:
    """Settings says when this webchat sends no e-mail (no WEBCHAT_SMTP_URL)."""
    return mail.configured()
