"""Stored rows as the API's JSON (the shapes of schemas.py): one function per thing."""
from ..core import program_events
from ..core.service import chat_title

# A user and a message have one JSON shape for programs, the socket's and the API's alike.
user_out = program_events.user_json
message_out = program_events.message_json


def chat_out(chat, viewer) -> dict:
    return {"id": chat.id, "kind": chat.kind, "name": chat.name, "title": chat_title(chat, viewer),
            "topic": chat.topic or "", "public": bool(chat.is_public), "last_message_id": chat.last_message_id or 0,
            "archived": chat.archived_at is not None}
