"""Messages: history by id, sending (idempotent by client_id), one message, editing, deleting, reacting.

Each is the core's operation the pages and the socket call (core/messaging.py, changes.py,
reactions.py): the same checks, the same store, the same publication to every open page.
"""

from ..core import changes, messaging, reactions, service, work_budget
from . import WRITE_ERRORS, bp, caller, responses, spec
from .schemas import EditIn, HistoryQuery, MessageList, MessageOut, Reacted, ReactIn, SendIn
from .serialize import message_out


@bp.get("/chats/<id:chat_id>/messages")
@spec.validate(resp=responses(404, 422, HTTP_200=MessageList), tags=["messages"])
def history(chat_id: int, query: HistoryQuery):
    """A page of the chat's messages, oldest first, thread replies included: the newest, those
    before ?before= (reading back) or those after ?after= (catching up), at most ?limit=."""
    user = caller()
    service.membership_or_404(chat_id, user)
    work_budget.spend_request(user.id)
    limit = query.limit
    if query.after is not None:
        rows = messaging.messages_after(chat_id, user, query.after, limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
    else:
        if query.before is not None:
            rows = messaging.messages_before(chat_id, user, query.before, limit + 1, replies=True)
        else:
            rows = messaging.latest_messages(chat_id, user, limit + 1, replies=True)
        more, rows = len(rows) > limit, rows[-limit:]
    work_budget.current_budget().charge(user.id, work_budget.cost(messages=len(rows)))
    return {"messages": [message_out(m) for m in rows], "more": more}


@bp.post("/chats/<id:chat_id>/messages")
@spec.validate(resp=responses(*WRITE_ERRORS, HTTP_201=(MessageOut, "Sent"),
                              HTTP_200=(MessageOut, "Sent before with this client_id: the message it made")),
               tags=["messages"])
def send_message(chat_id: int, json: SendIn):
    """Send a message; every open page of the chat shows it as if typed there. Idempotent by
    client_id, as the page's send: a repeat stores nothing and answers the stored message."""
    membership = service.membership_or_404(chat_id, caller())
    result = messaging.send_message(membership, json.text, json.client_id, thread_id=json.thread_id,
                                    broadcast=json.broadcast, reply_to_id=json.reply_to)
    return message_out(result.message), 201 if result.created else 200


@bp.get("/chats/<id:chat_id>/messages/<id:message_id>")
@spec.validate(resp=responses(404, HTTP_200=MessageOut), tags=["messages"])
def show_message(chat_id: int, message_id: int):
    """One message of the chat."""
    _, message = service.message_or_404(chat_id, caller(), message_id)
    return message_out(message)


@bp.patch("/chats/<id:chat_id>/messages/<id:message_id>")
@spec.validate(resp=responses(*WRITE_ERRORS, HTTP_200=MessageOut), tags=["messages"])
def edit_message(chat_id: int, message_id: int, json: EditIn):
    """Replace one's own message's text (within the workspace's edit window); every open page shows it."""
    membership, message = service.message_or_404(chat_id, caller(), message_id)
    return message_out(changes.edit_message(membership, message, json.text))


@bp.delete("/chats/<id:chat_id>/messages/<id:message_id>")
@spec.validate(resp=responses(*WRITE_ERRORS, HTTP_200=(MessageOut, "Deleted (deleting again answers the same)")),
               tags=["messages"])
def delete_message(chat_id: int, message_id: int):
    """Delete a message for everyone (its author, or a chat admin): its text and files are erased."""
    membership, message = service.message_or_404(chat_id, caller(), message_id)
    return message_out(changes.delete_message(membership, message))


@bp.post("/chats/<id:chat_id>/messages/<id:message_id>/reactions")
@spec.validate(resp=responses(*WRITE_ERRORS, HTTP_200=Reacted), tags=["messages"])
def toggle_reaction(chat_id: int, message_id: int, json: ReactIn):
    """Toggle the caller's reaction: added if they had none with this emoji, else taken back."""
    membership, message = service.message_or_404(chat_id, caller(), message_id)
    added = reactions.toggle_reaction(membership, message, json.emoji)
    return {"added": added, "message": message_out(message)}
