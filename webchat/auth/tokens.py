"""Settings: one's personal access tokens (core/tokens.py) — make one (its secret shown on the
page this once), see them listed, revoke one. The section: templates/auth/_settings_tokens.html."""
from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from ..core import tokens
from ..core.errors import ChatError
from ..extensions import db
from . import bp
from .routes import _settings_page


@bp.post("/settings/tokens")
@login_required
def create_token():
    """Make an access token; the settings page shows its secret, this once, and never again."""
    try:
        made = tokens.create(current_user._get_current_object(), request.form.get("name"), request.form.get("scope"))
    except ChatError as e:
        db.session.rollback()
        return _settings_page({"token": e.message}, e.status)
    # Shown in this answer, not after a redirect: the secret is kept nowhere, not even in the
    # session cookie (signed pages are never cached either: security.add_security_headers).
    return _settings_page({}, 200, new_token=made)


@bp.post("/settings/tokens/<id:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of one's tokens: it stops working at once and its sockets close."""
    try:
        token = tokens.token_of(current_user._get_current_object(), token_id)
    except ChatError as e:
        db.session.rollback()
        return _settings_page({"token": e.message}, e.status)
    tokens.revoke(token)
    flash(f"Token “{token.name}” revoked: programs using it are refused from now on.")
    return redirect(url_for("auth.settings", _anchor="tokens"))


@bp.app_template_global()
def access_tokens(user=None) -> list:
    """One's own live tokens, newest first (the settings section lists them)."""
    return tokens.tokens_of(user or current_user._get_current_object())
