"""Administration (/admin): people, workspace settings and the audit log, over core/administration.py.

Plain pages and forms, POST-redirect-GET with a flash; with htmx, an action on a person swaps
their row (templates/admin/_person_row.html) and shows the flash.
To anyone but an owner or administrator every URL here answers 404 (workspace.require_admin).
The admin navigation (templates/admin/_nav.html) also links the channels and invitations pages,
which live in their own modules.
"""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import DBAPIError

from ..core import administration, workspace
from ..core.errors import ChatError
from ..errors import render_error
from ..extensions import db
from ..htmx import is_htmx

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def require_admin():
    """Every administration URL needs a signed-in owner or administrator; others get 404."""
    workspace.require_admin(current_user)


@bp.errorhandler(ChatError)
def refused(e: ChatError):
    """A refused action (the owner's account, one's own, a bad role): nothing changed, and the
    words in the page's flash (htmx) or above the people list, with the refusal's status."""
    db.session.rollback()
    if is_htmx() or e.status == 404 or request.endpoint not in ("admin.person_action", "admin.password_reset_link"):
        return render_error(e.status, e.message)
    return _people_page(error=e.message, status=e.status)


@bp.get("")
def index():
    """Administration opens on its people page."""
    return redirect(url_for("admin.people"))


@bp.get("/people")
def people():
    """Everyone in the workspace (?q= finds by name or username), with what can be done to each."""
    return _people_page()


def _people_page(error: str | None = None, status: int = 200):
    typed = (request.values.get("q") or "").strip()[:64]
    return render_template("admin/people.html", people=administration.find_people(typed), typed=typed,
                           roles=workspace.ROLE_NAMES, shown=administration.PEOPLE_SHOWN, error=error,
                           section="people"), status


# What each button on a person's row does, and what the flash says after it.
def _deactivate(user):
    administration.set_active(current_user, user, False)
    return f"@{user} is deactivated: signed out everywhere, and signing in is refused."


def _reactivate(user):
    administration.set_active(current_user, user, True)
    return f"@{user} is active again and can sign in."


def _change_role(user):
    target = administration.change_role(current_user, user, request.form.get("role"))
    return f"@{user} is now {'an' if target.role in ('owner', 'admin') else 'a'} {workspace.ROLE_NAMES[target.role]}."


ACTIONS = {"deactivate": _deactivate, "reactivate": _reactivate, "role": _change_role}


@bp.post("/people/<username>/<any(deactivate, reactivate, role):action>")
def person_action(username: str, action: str):
    """Deactivate, reactivate, or change the role of one person: back to the list with a flash, or
    (htmx) their row again and the flash."""
    done = ACTIONS[action](username)
    if is_htmx():
        return render_template("admin/_person_answer.html", person=administration.person(username),
                               roles=workspace.ROLE_NAMES, typed=request.form.get("q", ""), message=done)
    flash(done)
    return redirect(url_for("admin.people", q=request.form.get("q") or None))


@bp.post("/people/<username>/reset-link")
def password_reset_link(username: str):
    """Make a one-time password reset link for someone and show it, once, to this administrator."""
    target, token = administration.password_reset_token(current_user, username)
    link = url_for("auth.reset_password", token=token, _external=True)
    return render_template("admin/reset_link.html", person=target, link=link,
                           hours=administration.RESET_LINK_SECONDS // 3600, section="people")


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """The workspace's name, who may join, who may create public channels, edit window, upload limit."""
    errors = {}
    if request.method == "POST":
        try:
            changed = administration.save_settings(current_user, request.form)
        except administration.SettingsError as e:
            db.session.rollback()
            errors = e.errors
        else:
            flash("Settings saved." if changed else "Nothing changed.")
            return redirect(url_for("admin.settings"))
    current = workspace.settings()
    form = request.form if errors else {
        "name": current.name, "registration": current.registration, "channel_creators": current.channel_creators,
        "edit_window_minutes": administration.edit_window_minutes() or "",
        "max_upload_mb": f"{workspace.upload_limit_mb():g}"}
    return render_template("admin/settings.html", form=form, errors=errors, section="settings",
                           registration_words=administration.REGISTRATION_WORDS,
                           creator_words=administration.CHANNEL_CREATOR_WORDS,
                           server_upload_mb=f"{workspace.server_upload_mb():g}",
                           max_minutes=administration.MAX_EDIT_WINDOW_MINUTES), 422 if errors else 200


@bp.get("/audit")
def audit():
    """The audit log, newest first, a page at a time (?before= the oldest id shown)."""
    before = request.args.get("before", type=int)
    events, older = administration.audit_page(min(before, 2**62) if before and before > 0 else None)
    return render_template("admin/audit.html", events=events, older=older, paged=bool(before), section="audit")


@bp.app_template_global()
def workspace_name() -> str:
    """The workspace's name, for the top bar's brand and every tab's title."""
    try:
        return workspace.name()
    except DBAPIError:
        # The page saying the database is away must still render: the name is decoration.
        db.session.rollback()
        return "webchat"

