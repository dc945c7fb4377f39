"""The administration page of invitation links: /admin/invitations (administrators only)."""
from datetime import timedelta

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from ..core import invitations, workspace
from ..core.errors import ChatError
from ..extensions import db
from . import bp

# The link just made, shown once by the page the creation redirects to (then forgotten). It rides
# in the administrator's own signed session cookie: only their browser, which asked for it, sees it.
NEW_LINK = "invitation_link"


@bp.get("/admin/invitations")
def invitations_page():
    """Invitation links: the form to make one, the one just made, and every link with its status."""
    workspace.require_admin(current_user)
    return _page({}, {}, link=session.pop(NEW_LINK, None))


@bp.post("/admin/invitations")
def create_invitation():
    """Make an invitation link; the page shows it, this once."""
    workspace.require_admin(current_user)
    form = request.form
    try:
        days = int(form.get("days", ""))
        uses = int(form.get("uses", ""))
    except ValueError:
        days = uses = 0
    if days not in invitations.EXPIRY_DAYS or uses not in invitations.USE_COUNTS:
        return _page({"form": "Pick how long the link stays valid and how many people may use it."}, form), 422
    try:
        _invitation, token = invitations.create_invitation(
            current_user, expires_in=timedelta(days=days), max_uses=uses, email=form.get("email"),
            role=form.get("role", "member"))
    except ChatError as e:
        db.session.rollback()
        return _page({"form": e.message}, form), e.status
    session[NEW_LINK] = url_for("auth.invitation", token=token, _external=True)
    return redirect(url_for("chats.invitations_page"))


@bp.post("/admin/invitations/<id:invitation_id>/revoke")
def revoke_invitation(invitation_id: int):
    """Revoke a link: no one registers with it from now on."""
    invitations.revoke_invitation(current_user, invitation_id)
    flash("Invitation revoked: its link no longer works.")
    return redirect(url_for("chats.invitations_page"))


def _page(errors: dict, form, link: str | None = None):
    return render_template("admin/invitations.html", errors=errors, form=form, link=link,
                           invitations=invitations.invitations(), status=invitations.status,
                           status_words=invitations.STATUS_WORDS, expiry_days=invitations.EXPIRY_DAYS,
                           use_counts=invitations.USE_COUNTS, role_names=workspace.ROLE_NAMES)
