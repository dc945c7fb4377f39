"""Stored rows as the API's JSON (the shapes of schemas.py): one function per thing."""
from datetime import UTC, datetime

from flask import url_for

from ..core import reactions as core_reactions
from ..core.service import chat_title


def iso(moment: datetime | None) -> str | None:
    """A stored time as ISO 8601 in UTC (SQLite hands back naive UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def user_out(user) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "is_bot": user.is_bot}


def chat_out(chat, viewer) -> dict:
    return {"id": chat.id, "kind": chat.kind, "name": chat.name, "title": chat_title(chat, viewer),
            "topic": chat.topic or "", "public": bool(chat.is_public), "last_message_id": chat.last_message_id or 0,
            "archived": chat.archived_at is not None}


def attachment_out(attachment) -> dict:
    return {"id": attachment.id, "filename": attachment.filename, "size": attachment.size,
            "content_type": attachment.content_type,
            "url": url_for("api.download_file", chat_id=attachment.chat_id, file_id=attachment.id, _external=True)}


def message_out(message) -> dict:
    """A message as every program sees it: its source text and its rendered HTML, who and when."""
    return {
        "id": message.id, "chat_id": message.chat_id, "seq": message.seq, "kind": message.kind,
        "author": user_out(message.author) if message.author is not None else None,
        "text": message.body, "html": message.html,
        "created_at": iso(message.created_at), "edited_at": iso(message.edited_at),
        "deleted": message.deleted_at is not None, "thread_id": message.thread_id,
        "reply_to_id": message.reply_to_id,
        "reactions": [{"emoji": group.emoji, "count": group.count, "user_ids": [u.id for u in group.users]}
                      for group in core_reactions.group_reactions(message.reactions)],
        "attachments": [attachment_out(a) for a in message.attachments],
    }
