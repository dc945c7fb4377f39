"""Threads: a message's replies in a pane beside the chat (htmx), or, without JavaScript, the chat
page with the thread open (a phone shows the thread alone), whose composer posts and comes back.

The pane's parts (templates/threads/): _thread_pane.html (the pane, or its empty place in the chat
pane), _replies.html (a run of replies, with "Load older replies" above when there are more) and
_composer.html. static/threads.js opens and closes it and keeps it caught up; files sent from its
composer (static/attachments.js, or the multipart form without JavaScript) come to send_reply.
"""
from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import attachments, following, messaging, threads, work_budget
from ..core.errors import ChatError
from ..htmx import is_htmx, retarget, triggered_by, wants_fragment
from . import bp
from .views import chat_context, composer, opened_by_the_user, page_or_pane, refusals

THREAD_PANE = "thread-pane"


def thread_context(membership, parent, body: str = "", error: str | None = None,
                   client_id: str | None = None, before: int | None = None, broadcast: bool = False) -> dict:
    """What a thread's pane shows: its parent, its newest replies (or those before `before`), and
    a composer (the text kept after a refusal, and a client id for the next reply)."""
    shown = (threads.replies(parent.id, before=before) if before else threads.latest_replies(parent.id))
    return {"chat": membership.chat, "membership": membership, "parent": parent, "replies": shown,
            "older_than": _older_than(parent.id, shown),
            "following": following.is_following(following.follow_state(current_user.id, parent.id)),
            "reply": {"body": body, "error": error, "client_id": client_id or messaging.new_client_id(),
                      "broadcast": broadcast}}


def _older_than(parent_id: int, shown: list) -> int | None:
    """The id to load older replies before, when there are any."""
    if shown and threads.replies(parent_id, before=shown[0].id, limit=1):
        return shown[0].id
    return None


def _thread(membership, parent, status: int = 200, **context):
    """The pane alone (htmx, HX-Target thread-pane), else the chat with the thread open."""
    thread = thread_context(membership, parent, **context)
    if wants_fragment(THREAD_PANE):
        return render_template("threads/_thread_pane.html", **thread), status
    return page_or_pane("chats/_chat_pane.html", status=status, refresh_list=True, thread=thread,
                        composer=composer(membership.chat), **chat_context(membership))


@bp.get("/chats/<id:chat_id>/threads/<id:message_id>")
def show_thread(chat_id: int, message_id: int):
    """A thread: its parent message and replies (older ones with ?before=), and a composer."""
    membership, parent = threads.thread_or_404(chat_id, current_user, message_id)
    work_budget.spend_request(current_user.id)
    if opened_by_the_user():  # a page without JavaScript, which cannot say it was read (following.js)
        following.mark_read(current_user.id, parent, parent.last_reply_id)
    return _thread(membership, parent, before=request.args.get("before", type=int))


@bp.get("/chats/<id:chat_id>/threads/<id:message_id>/replies")
def thread_replies(chat_id: int, message_id: int):
    """Replies of a thread as its pane shows them: after ?after= (catch-up, polling), or the page
    before ?before= with the link to older ones above it."""
    _, parent = threads.thread_or_404(chat_id, current_user, message_id)
    work_budget.spend_request(current_user.id)
    before = request.args.get("before", type=int)
    if before is not None:
        shown = threads.replies(parent.id, before=before)
        return render_template("threads/_replies.html", parent=parent, replies=shown,
                               older_than=_older_than(parent.id, shown))
    cap = current_app.config["PAGE_SIZE"] * 4
    shown = threads.replies(parent.id, after=request.args.get("after", 0, type=int), limit=cap)
    return render_template("threads/_replies.html", parent=parent, replies=shown, older_than=None)


@bp.post("/chats/<id:chat_id>/threads/<id:message_id>/replies")
def send_reply(chat_id: int, message_id: int):
    """Reply in the thread ("broadcast": also to the channel), with files when the form carries
    them (the composer's form is multipart; attachments.js posts its staged files here too). With
    htmx: the replies after the pane's newest (?after=), the new one included, and a fresh
    composer; else back to the thread."""
    membership, parent = threads.thread_or_404(chat_id, current_user, message_id)
    body, client_id = request.form.get("body", ""), request.form.get("client_id")
    broadcast = request.form.get("broadcast") in ("1", "on", "true")
    files = attachments.chosen_files(request.files.getlist("files"))

    def page(e: ChatError):
        return _thread(membership, parent, status=e.status, body=body, error=e.message, client_id=client_id,
                       broadcast=broadcast)

    def fragment(e: ChatError):  # the text kept, the refusal under it
        html = render_template("threads/_composer.html", chat=membership.chat, parent=parent,
                               reply={"body": body, "error": e.message, "client_id": client_id,
                                      "broadcast": broadcast})
        return retarget(current_app.make_response((html, e.status)), "#thread-composer")

    with refusals(page=page, fragment=fragment):
        if files:
            result = attachments.send_with_files(membership, body, client_id, files, thread_id=parent.id,
                                                 broadcast=broadcast)
        else:
            result = messaging.send_message(membership, body, client_id, thread_id=parent.id, broadcast=broadcast)
    if not is_htmx():
        return redirect(url_for("chats.show_thread", chat_id=chat_id, message_id=parent.id,
                                _anchor=f"t-{result.message.id}"))
    after = request.form.get("after", type=int)
    shown = [result.message]
    if after is not None and after < result.message.id:
        shown = threads.replies(parent.id, after=after, limit=current_app.config["PAGE_SIZE"] * 4)
    html = render_template("threads/_replies.html", parent=parent, replies=shown, older_than=None)
    if triggered_by("thread-composer"):
        # A fresh composer (empty, a new client id), out of band.
        html += render_template("threads/_composer.html", chat=membership.chat, parent=parent, oob=True,
                                reply={"body": "", "error": None, "client_id": messaging.new_client_id()})
    return html
