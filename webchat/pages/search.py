"""Search across one's chats, and a message's own address, which opens its chat at the message."""
from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import messaging, service
from ..core.search import search_messages
from ..htmx import wants_fragment
from . import bp
from .views import chat_context, composer, page_or_pane, refusals

RESULTS_PER_PAGE = 20
MORE = "search-more"  # the "More results" item, which the next page of results replaces


@bp.get("/search")
def search():
    """Messages of one's chats that contain the words of ?q=, newest first, matches marked."""
    q = request.args.get("q", "")
    before = request.args.get("before", type=int)
    results = None
    if q.strip():
        with refusals(page=lambda e: _search_page(q, None, e.message, e.status),
                      fragment=lambda e: _search_page(q, None, e.message, e.status)):
            results = search_messages(current_user, q, RESULTS_PER_PAGE, before=before)
    if results is not None and wants_fragment(MORE):
        return render_template("search/_hits.html", results=results, q=q)
    return _search_page(q, results)


def _search_page(q: str, results, error: str | None = None, status: int = 200):
    return page_or_pane("search/_search_pane.html", status=status, title=f"Search: {q}" if q.strip() else "Search",
                        q=q, results=results, error=error, search_q=q)


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>")
def show_message(chat_id: int, message_id: int):
    """A message's own address: its chat, scrolled to the message, which is marked (a reply kept in
    its thread: the thread, at the reply).

    404 for anyone not in the chat and for an id that is not a message of this chat.
    """
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    if not message.in_channel:  # a reply kept in its thread: the channel shows none of it
        return redirect(url_for("chats.show_thread", chat_id=chat_id, message_id=message.thread_id,
                                _anchor=f"t-{message.id}"))
    page_size = current_app.config["PAGE_SIZE"]
    if messaging.newer_count(chat_id, message_id, page_size) < page_size:
        # On the chat's newest page: open the live chat, as its link in the chat list does.
        context = chat_context(membership, focus_id=message_id)
    else:
        # Older: the page of history that ends with it (not live; "Newer messages →" leads on).
        context = chat_context(membership, before=message_id + 1, focus_id=message_id)
    return page_or_pane("chats/_chat_pane.html", refresh_list=True, composer=composer(membership.chat), **context)
