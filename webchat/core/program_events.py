"""A chat's events as JSON for programs (bots, scripts): the one place they are built and published.

Every publication of a chat's HTML that a program should hear about goes through publish():
the HTML to the chat's channel (pages) and the same change as JSON events to its program
channel (socket/program.py's sockets only), each event serialised once, whoever listens. When
nothing listens (InProcessHub knows; RedisHub can't, so it always answers yes), the events are
not even built. Types: message.created, message.changed, message.deleted, reaction, typing,
member.joined, member.left (README, "The socket for programs").

Contract: no other core module imports (it imports only models and the hub's channel names),
so messaging, changes, group_commit, broadcasts and service may all call it.
"""
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from flask import current_app, url_for

from ..models import Message, User
from ..realtime.hub import chat_channel, program_channel
from .reaction_groups import group_reactions

Events = Callable[[], list[str]]


def publish(chat_id: int, html: str | None, events: Events) -> None:
    """After commit: the chat's HTML frame to its pages (None: none) and, when a program may
    listen, events() — JSON texts, one per event — to its programs, in one hub call."""
    hub = current_app.extensions["webchat.hub"]
    publications = [(chat_channel(chat_id), html)] if html is not None else []
    channel = program_channel(chat_id)
    if hub.listened(channel):
        publications += [(channel, event) for event in events()]
    if len(publications) == 1:
        hub.publish(*publications[0])
    elif publications:
        hub.publish_many(publications)


def event(kind: str, chat_id: int, **fields) -> str:
    """One event as its JSON text: {"type", "chat", ...fields}."""
    return json.dumps({"type": kind, "chat": chat_id, **fields}, ensure_ascii=False, separators=(",", ":"))


def created(messages: Iterable[Message]) -> list[str]:
    return [event("message.created", m.chat_id, message=message_json(m)) for m in messages]


def changed(messages: Iterable[Message]) -> list[str]:
    """Each message's newest version: message.deleted for a deleted one, else message.changed."""
    return [event("message.deleted" if m.deleted_at is not None else "message.changed", m.chat_id,
                  message=message_json(m)) for m in messages]


def reaction(message: Message, user: User, emoji: str, added: bool) -> str:
    return event("reaction", message.chat_id, emoji=emoji, added=added, user=user_json(user),
                 message=message_json(message))


def members(kind: str, chat_id: int, users: Iterable[User], message: Message | None = None) -> str:
    """member.joined or member.left: who, and the chat event (system message) that says so."""
    return event(kind, chat_id, users=[user_json(u) for u in users], message_id=message.id if message else None)


def typing(chat_id: int, thread_id: int | None, typists: list[list[str]]) -> str:
    """Who is typing in the chat (or in one of its threads) now; typists: [username, display name]."""
    return event("typing", chat_id, thread=thread_id,
                 typists=[{"username": who[0], "display_name": who[-1]} for who in typists])


def user_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "is_bot": bool(user.is_bot)}


def message_json(m: Message) -> dict:
    """A message as programs see it, on the socket and in the API's answers alike: ids, its source
    text and its rendered HTML (the same as pages show inside the article), reactions grouped by
    emoji in the order first used, files with the address a token downloads them from. change_seq
    is the chat's change number of its newest version (the socket's "changes" cursor)."""
    return {
        "id": m.id, "seq": m.seq, "chat_id": m.chat_id, "kind": m.kind,
        "author": user_json(m.author) if m.author is not None else None,
        "text": m.body, "html": m.html, "created_at": _iso(m.created_at), "edited_at": _iso(m.edited_at),
        "deleted": m.deleted_at is not None, "thread_id": m.thread_id, "reply_to_id": m.reply_to_id,
        "change_seq": m.change_seq,
        "reactions": [{"emoji": group.emoji, "count": group.count, "user_ids": [u.id for u in group.users]}
                      for group in group_reactions(m.reactions)],
        "attachments": [{"id": a.id, "filename": a.filename, "size": a.size, "content_type": a.content_type,
                         "url": url_for("api.download_file", chat_id=a.chat_id, file_id=a.id, _external=True)}
                        for a in m.attachments],
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
