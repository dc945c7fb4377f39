"""Editing and deleting a message: in place with htmx, or through a small page without JavaScript."""
from flask import make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..errors import render_error
from ..extensions import db
from ..htmx import is_htmx, retarget
from . import bp, changes, service
from .errors import ChatError


def answer_change(message):
    """After an edit, deletion or reaction: htmx gets the changed message to swap in (the socket
    brings the same to every other page), a page without JavaScript goes back to the message."""
    if is_htmx():
        return changes.render_changes([message], message.chat_id)
    return redirect(url_for("chats.show_chat", chat_id=message.chat_id, _anchor=f"m-{message.id}"))


def _confirmation_page(template: str, message, status: int = 200, **context):
    chat = message.chat_id
    html = render_template(template, m=message, chat_id=chat, **context)
    return make_response(html, status)


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>/edit")
def edit_message_form(chat_id: int, message_id: int):
    """The inline editor for one's own message (a page of its own without JavaScript)."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    try:
        changes.check_editable(membership, message)
    except ChatError as e:
        if is_htmx():
            return render_error(e.status, e.message)
        return _confirmation_page("chats/edit_message.html", message, status=e.status, error=e.message)
    if is_htmx():
        return render_template("chats/_message_editor.html", m=message, body=message.body)
    return _confirmation_page("chats/edit_message.html", message, body=message.body)


@bp.post("/chats/<id:chat_id>/messages/<id:message_id>/edit")
def edit_message(chat_id: int, message_id: int):
    """Save a new version of one's own message; every open page of the chat shows it."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    body = request.form.get("body", "")
    try:
        changes.edit_message(membership, message, body)
    except ChatError as e:
        db.session.rollback()
        if is_htmx() and e.status not in (422, 429):  # not theirs, too old, deleted: the editor can't help
            return render_error(e.status, e.message)
        if is_htmx():
            html = render_template("chats/_message_editor.html", m=message, body=body, error=e.message)
            return retarget(make_response(html, e.status), f"#edit-m-{message.id}")
        return _confirmation_page("chats/edit_message.html", message, status=e.status, body=body, error=e.message)
    return answer_change(message)


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>/delete")
def delete_message_form(chat_id: int, message_id: int):
    """Ask before deleting (browsers without JavaScript; htmx asks with a confirm dialog)."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    try:
        changes.check_deletable(membership, message)
    except ChatError as e:
        return render_error(e.status, e.message)
    return _confirmation_page("chats/delete_message.html", message)


@bp.post("/chats/<id:chat_id>/messages/<id:message_id>/delete")
def delete_message(chat_id: int, message_id: int):
    """Delete a message for everyone: the author, or a group's admin, may."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    try:
        changes.delete_message(membership, message)
    except ChatError as e:
        db.session.rollback()
        return render_error(e.status, e.message)
    return answer_change(message)
