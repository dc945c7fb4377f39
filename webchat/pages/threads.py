"""Threads: a message's replies in a pane beside the chat (htmx), or a page of their own without
JavaScript, with a composer; following a thread; the Threads view."""
from flask import redirect, render_template, request, url_for
from flask_login import current_user

from ..core import following, messaging, threads
from ..core.errors import ChatError
from ..htmx import is_htmx, wants_fragment
from . import bp
from .views import opened_by_the_user, page_or_pane, refusals

THREAD_PANE = "thread-pane"


def thread_context(membership, parent, body: str = "", error: str | None = None,
                   client_id: str | None = None) -> dict:
    """What a thread's pane shows: its parent, its newest replies and a composer."""
    return {"chat": membership.chat, "membership": membership, "parent": parent,
                "replies": threads.latest_replies(parent.id), "body": body, "error": error,
                "client_id": client_id or messaging.new_client_id(), "title": "Thread",
                "following": following.is_following(following.follow_state(current_user.id, parent.id))}


def _thread(membership, parent, status: int = 200, **context):
    if wants_fragment(THREAD_PANE):
        return render_template("threads/_thread_pane.html", **thread_context(membership, parent, **context)), status
    return page_or_pane("threads/_thread_pane.html", status=status, **thread_context(membership, parent, **context))


@bp.get("/chats/<id:chat_id>/threads/<id:message_id>")
def show_thread(chat_id: int, message_id: int):
    """A thread: its parent message and replies, and a composer to reply."""
    membership, parent = threads.thread_or_404(chat_id, current_user, message_id)
    if opened_by_the_user():  # a page without JavaScript, which cannot say it was read (following.js)
        following.mark_read(current_user.id, parent, parent.last_reply_id)
    return _thread(membership, parent)


@bp.post("/chats/<id:chat_id>/threads/<id:message_id>/replies")
def send_reply(chat_id: int, message_id: int):
    """Reply in the thread ("broadcast": also to the channel); the thread again, or with htmx the reply."""
    membership, parent = threads.thread_or_404(chat_id, current_user, message_id)
    body, client_id = request.form.get("body", ""), request.form.get("client_id")
    broadcast = request.form.get("broadcast") in ("1", "on", "true")

    def again(e: ChatError):
        return _thread(membership, parent, status=e.status, body=body, error=e.message, client_id=client_id)

    with refusals(page=again, fragment=again):
        result = messaging.send_message(membership, body, client_id, thread_id=parent.id, broadcast=broadcast)
    if not is_htmx():
        return redirect(url_for("chats.show_thread", chat_id=chat_id, message_id=parent.id,
                                _anchor=f"t-{result.message.id}"))
    return _thread(membership, parent)
