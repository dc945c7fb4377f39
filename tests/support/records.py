"""What is stored, read straight from the database, and quick ways to set up chats and history."""
import uuid
from types import SimpleNamespace

from sqlalchemy import select

from webchat.extensions import db
from webchat.models import Attachment, Chat, Membership, Message, User

from .pages import chat_id_from


def create_group(actor, name: str, members: str = "") -> int:
    """actor creates a group chat through the form; returns its id."""
    response = actor.post("/chats", {"name": name, "members": members})
    assert response.status_code == 302, response.get_data(as_text=True)
    return chat_id_from(response)


def stored_messages(app, chat_id: int | None = None) -> list[SimpleNamespace]:
    """Messages (of one chat, or all) in id order, as plain records."""
    with app.app_context():
        query = select(Message).order_by(Message.id)
        if chat_id is not None:
            query = query.where(Message.chat_id == chat_id)
        return [SimpleNamespace(id=m.id, chat_id=m.chat_id, kind=m.kind, body=m.body, html=m.html,
                                author=m.author.username if m.author else None, client_id=m.client_id,
                                thread_id=m.thread_id,
                                broadcast=m.broadcast, reply_to_id=m.reply_to_id, reply_count=m.reply_count)
                for m in db.session.scalars(query)]


def attachment_ids(app) -> list[int]:
    """Ids of every stored attachment, in order."""
    with app.app_context():
        return list(db.session.scalars(select(Attachment.id).order_by(Attachment.id)))


def members_of(app, chat_id: int) -> dict[str, str]:
    """username -> role of the chat's members."""
    with app.app_context():
        rows = db.session.execute(
            select(User.username, Membership.role).join(Membership).where(Membership.chat_id == chat_id)
        ).all()
        return dict(rows)


def chat_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Chat.id).order_by(Chat.id)))


def user_names(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(User.username).order_by(User.username)))


def snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table: compare two snapshots to prove nothing changed. Not the workspace's
    settings row, made with the defaults the first time a page reads them (workspace.settings)."""
    with app.app_context(), db.engine.connect() as conn:
        return {table.name: sorted(tuple(map(repr, row)) for row in conn.execute(table.select()))
                for table in db.metadata.sorted_tables if table.name != "workspace"}


def post_messages(app, chat_id: int, username: str, texts) -> list[int]:
    """Send texts as username through the app's message service (fast setup for long histories)."""
    from webchat.core import messaging, service

    with app.test_request_context():
        user = db.session.scalar(select(User).where(User.username == username))
        membership = service.membership_or_404(chat_id, user)
        ids = [messaging.send_message(membership, text, str(uuid.uuid4())).message.id for text in texts]
        db.session.remove()
        return ids


def set_user(app, username: str, **fields) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        for name, value in fields.items():
            setattr(user, name, value)
        db.session.commit()


def message_sent(person, chat_id: int, body: str) -> int:
    """Send as a page without JavaScript does (redirected to the message); the stored message's id."""
    response = person.send(chat_id, body)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rsplit("#m-", 1)[1])


def post_reply(person, chat_id: int, parent_id: int, body: str, *, htmx: bool = False, client_id: str | None = None,
               after: int | None = None, broadcast: bool = False):
    """Reply in a thread as its composer does (htmx: the pane's, naming itself); the response."""
    data = {"body": body, "client_id": client_id or str(uuid.uuid4())}
    if after is not None:
        data["after"] = str(after)
    if broadcast:
        data["broadcast"] = "1"
    return person.post(f"/chats/{chat_id}/threads/{parent_id}/replies", data, htmx=htmx,
                       trigger="thread-composer" if htmx else None)


def reply_id(response) -> int:
    """The stored reply's id, from a reply sent without JavaScript (redirected to it in its thread)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rsplit("#t-", 1)[1])


def reply_sent(person, chat_id: int, parent_id: int, body: str, **options) -> int:
    """Reply without JavaScript (post_reply's options); the stored reply's id."""
    return reply_id(post_reply(person, chat_id, parent_id, body, **options))


class Recorder:
    """A hub connection (subscribe it to a channel): the text of each frame published, in order."""

    def __init__(self) -> None:
        self.got: list[str] = []

    def deliver(self, delivery) -> None:
        self.got.append(delivery.text)
