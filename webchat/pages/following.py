"""Following threads: follow and unfollow, reading a thread, and the Threads view of the threads
one follows (core/following.py keeps the state and publishes the badge to every tab)."""
from flask import make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import following, threads, work_budget
from ..core.service import chat_title
from ..htmx import is_htmx, wants_fragment
from . import bp
from .views import page_or_pane

THREADS_LIST = "threads-list"  # the view's list, fetched again when the badge moves (following.js)


def _set_following(chat_id: int, message_id: int, follow: bool):
    _, parent = threads.thread_or_404(chat_id, current_user, message_id)
    following.set_following(current_user.id, parent, follow)
    if is_htmx():
        return following.render_follow_button(parent, follow)
    return redirect(url_for("chats.show_thread", chat_id=chat_id, message_id=message_id))


@bp.post("/chats/<id:chat_id>/threads/<id:message_id>/follow")
def follow_thread(chat_id: int, message_id: int):
    """Follow a thread: its new replies count in Threads and notify; the button, or back to the thread."""
    return _set_following(chat_id, message_id, True)


@bp.post("/chats/<id:chat_id>/threads/<id:message_id>/unfollow")
def unfollow_thread(chat_id: int, message_id: int):
    """Stop following a thread (until one replies or is mentioned there); the button, or back to it."""
    return _set_following(chat_id, message_id, False)


@bp.post("/chats/<id:chat_id>/threads/<id:message_id>/read")
def read_thread(chat_id: int, message_id: int):
    """The page says the thread is read up to reply ?upto= (its pane in view, while the socket is down)."""
    _, parent = threads.thread_or_404(chat_id, current_user, message_id)
    upto = request.form.get("upto", type=int)
    if upto is None or upto < 0:
        return make_response("Say up to which reply the thread is read.", 400)
    following.mark_read(current_user.id, parent, upto)
    if is_htmx():  # no socket to bring the new badge to this page: the answer does
        return following.render_badge(current_user.id, oob=True)
    return redirect(url_for("chats.show_thread", chat_id=chat_id, message_id=message_id))


@bp.get("/threads")
def followed_threads():
    """The threads one follows, those with unread replies first; htmx asks for the list alone
    when the Threads badge moves."""
    work_budget.spend_request(current_user.id)
    listed = {"threads": threads.followed_threads(current_user), "chat_title": _titles()}
    if wants_fragment(THREADS_LIST):
        return render_template("threads/_list.html", **listed)
    return page_or_pane("threads/threads.html", title="Threads", **listed)


def _titles():
    """A chat's name as this viewer sees it (a direct message: the other person's)."""
    return lambda chat: chat_title(chat, current_user)
