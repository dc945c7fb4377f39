"""The composer's @ list: members to mention, as the person types (core/mentions.py finds them)."""
from flask import render_template, request
from flask_login import current_user

from ..core import service
from ..core.mentions import MAX_QUERY, suggest
from . import bp


@bp.get("/chats/<id:chat_id>/mentions")
def mention_suggestions(chat_id: int):
    """Members to mention whose name starts with ?q= (the composer's @ list); 404 to non-members."""
    service.membership_or_404(chat_id, current_user)
    typed = (request.args.get("q") or "").strip().removeprefix("@")[:MAX_QUERY]
    people = suggest(chat_id, current_user, typed)
    return render_template("chats/_mention_suggestions.html", people=people, typed=typed)
