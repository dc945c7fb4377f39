"""Registering with an invitation link: /invite/<token>."""
from flask import current_app, render_template, request
from flask_limiter.util import get_remote_address

from ..core import accounts, invitations, workspace
from ..core.errors import ChatError
from ..extensions import db, limiter
from . import bp
from .routes import welcome_in

# Longer than any token we hand out (token_urlsafe(32): 43 characters); a longer one is no link of ours.
MAX_TOKEN = 128


def _register_limit() -> str:
    return current_app.config["REGISTER_LIMIT"]


def _wrong_token_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def _invite_address_key() -> str:
    return "invite-address:" + get_remote_address()


def _wrong_token(response) -> bool:
    # A token of no invitation costs like a failed login: guessing links is guessing passwords.
    return response.status_code == 404


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
@limiter.limit(_wrong_token_limit, key_func=_invite_address_key, deduct_when=_wrong_token)
def invitation(token: str):
    """The registration form of an invitation link, and registering with it (then signed in)."""
    try:
        if len(token) > MAX_TOKEN:
            raise ChatError(invitations.INVALID_LINK, 404)
        invitation = invitations.usable(token)
        if request.method == "POST":
            user = invitations.register_with(token, request.form.get("username"), request.form.get("display_name"),
                                             request.form.get("password"), request.form.get("email"))
            return welcome_in(user)
    except ChatError as e:
        db.session.rollback()
        return render_template("auth/invitation_refused.html", text=e.message), e.status
    except accounts.AccountError as e:
        return _form(invitation, e.errors, request.form), 422
    return _form(invitation, {}, {})


def _form(invitation, errors: dict, form):
    return render_template("auth/invitation.html", invitation=invitation, errors=errors, form=form,
                           workspace_name=workspace.name())
