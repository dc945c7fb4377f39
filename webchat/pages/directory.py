"""The directory pages: public channels and people to find, a public channel's preview for a
non-member, and joining it (core/directory.py)."""
from flask import current_app, render_template, request, url_for
from flask_login import current_user

from ..core import directory, messaging, work_budget, workspace
from ..core.presence import Presence
from ..htmx import navigate, wants_fragment
from . import bp
from .views import page_or_pane

RESULTS = "directory-results"  # the list under the search box, which htmx replaces as one types


@bp.app_context_processor
def directory_links():
    """Whether the page offers "Browse channels" (not to guests: workspace.may_browse)."""
    return {"may_browse": workspace.may_browse}


def _typed() -> str:
    return (request.args.get("q") or "").strip()[:directory.MAX_QUERY]


@bp.get("/directory")
def channel_directory():
    """Public channels, found by name or topic (?q=); htmx asks for the list alone as one types."""
    typed = _typed()
    entries, more = directory.channels(current_user, typed)
    found = {"entries": entries, "more": more, "typed": typed}
    if wants_fragment(RESULTS):
        return render_template("directory/_channels.html", **found)
    return page_or_pane("directory/_channels_pane.html", title="Browse channels", **found)


@bp.get("/directory/people")
def people_directory():
    """People one may find, by name (?q=), each with a button to message them."""
    typed = _typed()
    people, more = directory.people(current_user, typed)
    found = {"people": people, "more": more, "typed": typed, "people_presence": Presence(current_user, people)}
    if wants_fragment(RESULTS):
        return render_template("directory/_people.html", **found)
    return page_or_pane("directory/_people_pane.html", title="People", **found)


@bp.post("/chats/<id:chat_id>/join")
def join_chat(chat_id: int):
    """Join a public channel (already in it: nothing changes) and open it."""
    directory.join(chat_id, current_user)
    # A full navigation keeps the chat list and the URL in step with the chat.
    return navigate(url_for("chats.show_chat", chat_id=chat_id))


def preview(chat_id: int, before: int | None):
    """A public channel as a non-member sees it (chats.show_chat): its history read-only, Join
    instead of the composer; no read marker, receipts or typing, as the viewer is in no chat."""
    chat = directory.previewable_or_404(chat_id, current_user)
    work_budget.spend_request(current_user.id)
    page_size = current_app.config["PAGE_SIZE"]
    if before:
        messages = messaging.messages_before(chat.id, current_user, before, page_size)
    else:
        messages = messaging.latest_messages(chat.id, current_user, page_size)
    older = messages and messaging.has_older(chat.id, current_user, messages[0].id)
    return page_or_pane("directory/_preview_pane.html", chat=chat, title=chat.name, messages=messages,
                        members=directory.member_count(chat), older_than=messages[0].id if older else None,
                        paged=bool(before), hide_system=current_user.hide_system_messages)

