"""/reset/<token>: set a new password from the one-time link an administrator made
(core/administration.py, password_reset_token)."""
from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user

from ..core import accounts, administration
from ..core.errors import ChatError
from ..extensions import db, limiter
from . import bp


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])  # each try hashes a password
def reset_password(token: str):
    """The new-password form of a reset link; an expired, used or broken link says which."""
    try:
        person = administration.user_for_reset(token)
        if request.method == "POST":
            administration.reset_password(token, request.form.get("new_password"))
            # Whoever was signed in in this browser is signed out: the person signs in anew.
            if current_user.is_authenticated and session.get("sid"):
                accounts.sign_out(current_user.id, session["sid"])
            logout_user()
            flash("Your new password is set, and every earlier sign-in has ended. Sign in with it.")
            return redirect(url_for("auth.login"))
    except ChatError as e:
        db.session.rollback()
        return render_template("auth/reset.html", link_error=e.message, errors={}), e.status
    except accounts.AccountError as e:
        db.session.rollback()
        return render_template("auth/reset.html", person=person, errors=e.errors), 422
    return render_template("auth/reset.html", person=person, errors={})
