"""Quoting a message: the composer with a preview of it, which the next send answers."""
from flask import render_template
from flask_login import current_user

from ..core import quotes, service
from ..htmx import wants_fragment
from . import bp
from .views import chat_context, chat_pane_refusal, composer, page_or_pane, refusals

QUOTE_SLOT = "composer-quote"  # the composer's place for the preview (chats/_composer.html)


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>/quote")
def quote_message(chat_id: int, message_id: int):
    """The composer quoting a message: with htmx its preview for the page's composer, else the
    chat page with it in the composer (a form that sends the quote-reply)."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    with refusals(page=chat_pane_refusal(membership, "", None)):
        quote = quotes.quote_for(membership, message.id)
    if wants_fragment(QUOTE_SLOT):
        return render_template("chats/_composer_quote.html", quote=quote)
    return page_or_pane("chats/_chat_pane.html", composer=composer(membership.chat, quote=quote),
                        **chat_context(membership))
