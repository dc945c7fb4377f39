"""Channel pages: archiving and unarchiving, and the administrators' list of every channel
(/admin/channels). The topic form is on the members page (pages/chats.py)."""
from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import channels, workspace
from ..htmx import navigate
from . import bp
from .views import refusals


@bp.post("/chats/<id:chat_id>/archive")
def archive_channel(chat_id: int):
    """Make a channel read-only (its admins, or a workspace administrator)."""
    with refusals(page=_admin_page_refusal(), fragment=_admin_page_refusal()):
        channels.archive(current_user, chat_id)
    return _back(chat_id, "Archived.")


@bp.post("/chats/<id:chat_id>/unarchive")
def unarchive_channel(chat_id: int):
    """Open an archived channel again."""
    with refusals(page=_admin_page_refusal(), fragment=_admin_page_refusal()):
        channels.unarchive(current_user, chat_id)
    return _back(chat_id, "Unarchived.")


def _from_admin_page() -> bool:
    # The administrators' page posts here too, for channels they may not be in: back to it.
    return request.form.get("back") == "admin"


def _admin_page_refusal():
    """A refusal from the administrators' page shows on that page; elsewhere the usual flash."""
    if not _from_admin_page():
        return None
    return _on_channels_page


def _on_channels_page(e):
    """The administrators' page with the refusal; None (the usual answer) for anyone else."""
    if not current_user.is_workspace_admin:
        return None
    return _channels_page(status=e.status, error=e.message)


def _back(chat_id: int, notice: str):
    if _from_admin_page():
        return _channels_page(notice=notice)
    return navigate(url_for("chats.show_chat", chat_id=chat_id))


@bp.get("/admin/channels")
def admin_channels():
    """Every channel, public and private, for the workspace's administrators."""
    return _channels_page()


@bp.post("/admin/channels/<id:chat_id>/owner")
def set_channel_owner(chat_id: int):
    """Hand a channel to one of its members."""
    with refusals(page=_on_channels_page, fragment=_on_channels_page):
        owner = channels.set_owner(current_user, chat_id, request.form.get("owner"))
    return _channels_page(notice=f"{owner.display_name} owns the channel now.")


@bp.post("/admin/channels/<id:chat_id>/default")
def set_default_channel(chat_id: int):
    """Make a public channel one every new member joins (default=1), or no longer (default=0)."""
    with refusals(page=_on_channels_page, fragment=_on_channels_page):
        chat = channels.set_default(current_user, chat_id, request.form.get("default") == "1")
    return _channels_page(notice=f"New members join #{chat.name}." if chat.is_default
                          else f"New members no longer join #{chat.name}.")


def _channels_page(status: int = 200, error: str | None = None, notice: str | None = None):
    """The page (a page of the administration section, admin/_page.html); after a change, post,
    redirect, get, the notice flashed."""
    workspace.require_admin(current_user)
    if request.method == "POST" and not error:
        flash(notice)
        return redirect(url_for("chats.admin_channels"))
    return make_response(render_template("admin/channels.html", rows=channels.all_channels(current_user),
                                         error=error), status)

