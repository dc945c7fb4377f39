"""Reacting to a message: toggled in place with htmx, or through a small page without JavaScript."""
from flask import make_response, render_template, request
from flask_login import current_user

from ..core import reactions, service
from ..htmx import is_htmx
from . import bp
from .views import answer_change, refusals

bp.add_app_template_filter(reactions.group_reactions, "reaction_groups")
bp.add_app_template_global(reactions.QUICK_REACTIONS, "quick_reactions")


def _chosen(message) -> set[str]:
    return {r.emoji for r in message.reactions if r.user_id == current_user.id}


def _reaction_page(message, status: int = 200, error: str | None = None, choice: str | None = None,
                   typed: str | None = None):
    reactable = not message.is_system and not message.is_deleted
    html = render_template("chats/react_message.html", m=message, chat_id=message.chat_id, error=error,
                           reactable=reactable, choice=choice, typed=typed, chosen=_chosen(message),
                           groups=reactions.group_reactions(message.reactions))
    return make_response(html, status)


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>/reactions")
def reaction_picker(chat_id: int, message_id: int):
    """The reaction picker: in a message's React menu with htmx, else a page (?emoji= chosen already)."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    raw = request.args.get("emoji")
    with refusals(page=lambda e: _reaction_page(message, status=e.status, error=e.message, typed=raw)):
        reactions.check_reactable(message)
        choice = reactions.normalize_emoji(raw) if raw is not None else None
    if is_htmx():
        return render_template("chats/_reaction_choices.html", m=message, chosen=_chosen(message))
    return _reaction_page(message, choice=choice)


@bp.post("/chats/<id:chat_id>/messages/<id:message_id>/reactions")
def toggle_reaction(chat_id: int, message_id: int):
    """Add one's reaction with the posted emoji, or take it back; every open page of the chat shows it."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    raw = request.form.get("emoji", "")
    with refusals(page=lambda e: _reaction_page(message, status=e.status, error=e.message, typed=raw)):
        reactions.toggle_reaction(membership, message, raw)
    return answer_change(message)
