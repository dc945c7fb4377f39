"""Editing and deleting a message: in place with htmx, or through a small page without JavaScript."""
from flask import make_response, render_template, request
from flask_login import current_user

from ..core import changes, service
from ..core.errors import ChatError
from ..htmx import is_htmx, retarget
from . import bp
from .views import answer_change, refusals


def _confirmation_page(template: str, message, status: int = 200, **context):
    chat = message.chat_id
    html = render_template(template, m=message, chat_id=chat, **context)
    return make_response(html, status)


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>/edit")
def edit_message_form(chat_id: int, message_id: int):
    """The inline editor for one's own message (a page of its own without JavaScript)."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    with refusals(page=lambda e: _confirmation_page("chats/edit_message.html", message, status=e.status,
                                                    error=e.message)):
        changes.check_editable(membership, message)
    if is_htmx():
        return render_template("chats/_message_editor.html", m=message, body=message.body)
    return _confirmation_page("chats/edit_message.html", message, body=message.body)


@bp.post("/chats/<id:chat_id>/messages/<id:message_id>/edit")
def edit_message(chat_id: int, message_id: int):
    """Save a new version of one's own message; every open page of the chat shows it."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    body = request.form.get("body", "")

    def editor_again(e: ChatError):
        if e.status not in (422, 429):  # not theirs, too old, deleted: the editor can't help
            return None
        html = render_template("chats/_message_editor.html", m=message, body=body, error=e.message)
        return retarget(make_response(html, e.status), f"#edit-m-{message.id}")

    def page_again(e: ChatError):
        return _confirmation_page("chats/edit_message.html", message, status=e.status, body=body, error=e.message)

    with refusals(page=page_again, fragment=editor_again):
        changes.edit_message(membership, message, body)
    return answer_change(message)


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>/delete")
def delete_message_form(chat_id: int, message_id: int):
    """Ask before deleting (browsers without JavaScript; htmx asks with a confirm dialog)."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    changes.check_deletable(membership, message)
    return _confirmation_page("chats/delete_message.html", message)


@bp.post("/chats/<id:chat_id>/messages/<id:message_id>/delete")
def delete_message(chat_id: int, message_id: int):
    """Delete a message for everyone: the author, or a group's admin, may."""
    membership, message = service.message_or_404(chat_id, current_user, message_id)
    changes.delete_message(membership, message)
    return answer_change(message)
