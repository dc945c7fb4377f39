"""The people picker: start a direct message or a group from anywhere ("New message" in the
sidebar), suggesting people by name as one types (core/mentions.py's suggest_people)."""
from flask import render_template, request, url_for
from flask_login import current_user

from ..core import service
from ..core.mentions import MAX_QUERY, suggest_people
from ..core.presence import Presence
from ..htmx import navigate, wants_fragment
from . import bp
from .views import page_or_pane, refusals

OPTIONS = "people-options"  # the list under the "To" field, which people.js fills as one types


@bp.get("/new")
def new_conversation():
    """The picker (?q= finds people by name, ?people= fills "To"); htmx asks for the list alone."""
    typed = (request.args.get("q") or "").strip().removeprefix("@")[:MAX_QUERY]
    people = suggest_people(current_user, typed) if typed or wants_fragment(OPTIONS) else None
    found = {"people": people, "typed": typed, "people_presence": Presence(current_user, people or [])}
    if wants_fragment(OPTIONS):
        return render_template("chats/_people_options.html", **found)
    return _picker(to=request.args.get("people", ""), **found)


@bp.post("/new")
def start_conversation():
    """Open the direct message with the one person chosen, or start a group with several."""
    def again(e):
        return _picker(status=e.status, error=e.message, to=request.form.get("people", ""))
    with refusals(page=again, fragment=again):
        chat = service.start_conversation(current_user, request.form.get("people"), request.form.get("name"))
    # A full navigation keeps the chat list and the URL in step with the chat.
    return navigate(url_for("chats.show_chat", chat_id=chat.id))


def _picker(status: int = 200, to: str = "", people=None, typed: str = "", people_presence=None,
            error: str | None = None):
    return page_or_pane("chats/_people_pane.html", status=status, title="New message", to=to,
                        name=request.form.get("name", ""), people=people, typed=typed,
                        people_presence=people_presence, error=error)
