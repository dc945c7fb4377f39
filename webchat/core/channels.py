"""Channels: group chats that are public (found by anyone but a guest) or private, with a topic
and a description; archiving (read-only: core/read_only.py); the default channels every new
member joins (#general); and the administrators' list of every channel.

A channel is a Chat of kind "group"; is_public tells the two kinds apart. Names of public channels
are unique by what they look like (Chat.name_skeleton, index uq_chats_public_name).
"""
from dataclasses import dataclass

from flask import current_app, render_template
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Chat, Membership, User, utcnow
from ..realtime.hub import chat_channel
from ..text_rules import name_skeleton, unstorable, without_controls
from . import send_budget, service, workspace
from .broadcasts import current_hub, publish_control
from .errors import ChatError, not_found
from .messaging import add_system_message, announce
from .read_only import check_writable

GENERAL_TOPIC = "Company-wide announcements and work-based matters"
MAX_TOPIC = 250
MAX_DESCRIPTION = 2000
VISIBILITIES = ("private", "public")


# ----- names, topics, descriptions --------------------------------------------------------------

def name_taken(name: str) -> ChatError:
    return ChatError(f"There's already a public channel named #{name}. Pick another name.", 409)


def check_public_name(name: str, besides: int | None = None) -> None:
    """ChatError 409 when a public channel (other than chat id besides) has a name that looks like
    name: case, accents and lookalike letters ("General", "general", "Gеneral" with a Cyrillic е)."""
    query = select(Chat.name).where(Chat.is_public, Chat.name_skeleton == name_skeleton(name))
    if besides is not None:
        query = query.where(Chat.id != besides)
    if (existing := db.session.scalar(query.limit(1))) is not None:
        raise name_taken(existing)


def _taken_after_race(name: str) -> ChatError:
    """The unique index refused the name: another request took it between the check and the commit."""
    db.session.rollback()
    existing = db.session.scalar(select(Chat.name).where(Chat.is_public, Chat.name_skeleton == name_skeleton(name)))
    return name_taken(existing or name)


def _cleaned(typed: str | None, what: str, limit: int, lines: bool = False) -> str:
    """Text as a chat name is cleaned (service.validate_chat_name): no controls no one types, runs
    of spaces as one; kept as lines when `lines`. May be empty; ChatError past `limit` characters."""
    text = typed or ""
    if unstorable(text):
        raise ChatError(f"That {what} contains a character webchat can't store (a NUL or an unpaired "
                        "surrogate). Nothing was changed.")
    text = "\n".join(" ".join(without_controls(line).split()) for line in text.splitlines()).strip() if lines \
        else " ".join(without_controls(text).split())
    if len(text) > limit:
        raise ChatError(f"A {what} can be at most {limit} characters; this one has {len(text)}. Nothing was changed.")
    return text


def clean_topic(typed: str | None) -> str:
    """One line; may be empty."""
    return _cleaned(typed, "topic", MAX_TOPIC)


def clean_description(typed: str | None) -> str:
    """Lines of text, each cleaned as a topic is; may be empty."""
    return _cleaned(typed, "description", MAX_DESCRIPTION, lines=True)


# ----- creating and renaming ---------------------------------------------------------------------

def create_channel(creator: User, name: str | None, member_names: str | None, visibility: str | None = "private",
                   topic: str | None = "", description: str | None = "") -> Chat:
    """A new channel: public (unique name, found in the directory) or private (invitation only)."""
    if visibility not in VISIBILITIES:
        raise ChatError("Choose whether the channel is public or private.")
    public = visibility == "public"
    name = service.validate_chat_name(name)
    topic, description = clean_topic(topic), clean_description(description)
    service.check_may_create(creator, public)
    if public:
        check_public_name(name)
    try:
        return service.create_group(creator, name, member_names, public=public, topic=topic,
                                    description=description)
    except IntegrityError:
        if not public:
            raise
        raise _taken_after_race(name) from None


def rename(membership: Membership, name: str | None) -> None:
    """Rename a group chat; a public channel's new name obeys the same uniqueness as at creation."""
    chat = membership.chat
    check_writable(chat)
    if chat.is_public and not chat.is_direct:
        check_public_name(service.validate_chat_name(name), besides=chat.id)
    try:
        service.rename(membership, name)
    except IntegrityError:
        raise _taken_after_race(service.validate_chat_name(name)) from None


# ----- topic and description ---------------------------------------------------------------------

def set_topic(membership: Membership, topic: str | None, description: str | None) -> bool:
    """A channel admin sets the topic (shown in the chat's header) and the description (its
    details page); a system message says what changed and open pages show the new header.
    False when nothing changed."""
    chat, user = membership.chat, membership.user
    if chat.is_direct:
        raise ChatError("A direct message has no topic; start a channel for that.", 400)
    if not membership.is_admin:
        raise ChatError("Only the channel's admins can change its topic and description.", 403)
    check_writable(chat)
    topic, description = clean_topic(topic), clean_description(description)
    new_topic, new_description = topic != chat.topic, description != chat.description
    if not (new_topic or new_description):
        return False
    send_budget.spend(user.id, send_budget.RENAME)  # its system message goes to everyone, as a rename's
    if new_topic:
        said = f"set the topic to “{topic}”" if topic else "cleared the topic"
        said += " and changed the description" if new_description else ""
    else:
        said = "changed the description"
    chat.topic, chat.description = topic, description
    message = add_system_message(chat, f"{user.display_name} {said}")
    db.session.commit()
    announce(message)
    current_hub().publish(chat_channel(chat.id), render_template("chats/_chat_topic.html", chat=chat, oob=True))
    return True


# ----- archiving -----------------------------------------------------------------------------------

def may_archive(user: User, chat: Chat, membership: Membership | None) -> bool:
    """A channel's admins and the workspace's administrators archive and unarchive it."""
    if chat.is_direct:
        return False
    return user.is_workspace_admin or (membership is not None and membership.is_admin)


def _channel_to_archive(actor: User, chat_id: int) -> Chat:
    chat = db.session.get(Chat, chat_id)
    membership = chat and db.session.scalar(
        select(Membership).where(Membership.chat_id == chat_id, Membership.user_id == actor.id))
    if chat is None or (membership is None and not actor.is_workspace_admin):
        raise not_found()
    if chat.is_direct:
        raise ChatError("A direct message can't be archived.", 400)
    if not may_archive(actor, chat, membership):
        raise ChatError("Only the channel's admins or a workspace administrator can archive it or bring it back.",
                        403)
    return chat


def archive(actor: User, chat_id: int) -> Chat:
    """Make the channel read-only: every message kept, nothing new (read_only.check_writable)."""
    return _set_archived(actor, chat_id, True)


def unarchive(actor: User, chat_id: int) -> Chat:
    """Open an archived channel for messages again."""
    return _set_archived(actor, chat_id, False)


def _set_archived(actor: User, chat_id: int, archived: bool) -> Chat:
    chat = _channel_to_archive(actor, chat_id)
    if chat.is_archived == archived:
        return chat  # asked twice (two tabs, a double click): already as asked
    chat.archived_at = utcnow() if archived else None
    said = "archived the channel: it's read-only now" if archived else "unarchived the channel"
    message = add_system_message(chat, f"{actor.display_name} {said}")
    workspace.record(actor, "channel.archive" if archived else "channel.unarchive", f"#{chat.name}",
                     f"chat {chat.id}")
    db.session.commit()
    announce(message)
    # The composer goes (or a notice says it is back) on every open page of the chat; the chat
    # lists mark it.
    current_hub().publish(chat_channel(chat.id), render_template("chats/_compose_area.html", chat=chat, live=True))
    publish_control([m.user_id for m in chat.memberships], "memberships")
    return chat


# ----- default channels --------------------------------------------------------------------------

def ensure_general(owner: User, name: str | None = None) -> Chat | None:
    """The workspace's first default channel, public, owned by owner, made once: named name, else
    config DEFAULT_CHANNEL ("general"; empty: none)."""
    name = name or current_app.config.get("DEFAULT_CHANNEL")
    if not name or db.session.scalar(select(Chat.id).where(Chat.is_default).limit(1)) is not None:
        return None
    chat = Chat(kind="group", name=name, is_public=True, is_default=True, topic=GENERAL_TOPIC, owner_id=owner.id)
    chat.memberships.append(Membership(user=owner, role="admin"))
    db.session.add(chat)
    try:
        add_system_message(chat, f"{owner.display_name} created the channel #{name}")
        db.session.commit()
    except IntegrityError:  # a public channel of that name exists already: it is not made twice
        db.session.rollback()
        return None
    publish_control([owner.id], "memberships")
    return chat


def join_default_channels(user: User) -> list[Chat]:
    """Put a new member (not a guest) into every default channel that is not archived."""
    if user.is_guest:
        return []
    theirs = select(Membership.chat_id).where(Membership.user_id == user.id)
    chats = list(db.session.scalars(select(Chat).where(Chat.is_default, Chat.archived_at.is_(None),
                                                       Chat.id.not_in(theirs)).order_by(Chat.id)))
    if not chats:
        return []
    messages = []
    for chat in chats:
        # A row of its own: appending to chat.memberships would load every member of #general.
        db.session.add(Membership(chat_id=chat.id, user_id=user.id))
        messages.append(add_system_message(chat, f"{user.display_name} joined"))
    db.session.commit()
    for chat, message in zip(chats, messages, strict=True):
        service.announce_membership(chat, message, joined=[user])
    publish_control([user.id], "memberships")
    return chats


# ----- the first run ------------------------------------------------------------------------------

def landing_channel(user: User) -> Chat | None:
    """Where a new account lands: the first default channel it is in (#general), if any."""
    theirs = select(Membership.chat_id).where(Membership.user_id == user.id)
    return db.session.scalar(select(Chat).where(Chat.is_default, Chat.archived_at.is_(None), Chat.id.in_(theirs))
                             .order_by(Chat.id).limit(1))


FEW_CHATS = 2


def is_new_here(user: User) -> bool:
    """Someone in few chats yet (#general and maybe one more): the home pane says where things are."""
    theirs = select(Membership.chat_id).where(Membership.user_id == user.id).limit(FEW_CHATS + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(theirs)) <= FEW_CHATS


# ----- the administrators' list --------------------------------------------------------------------

@dataclass
class ChannelRow:
    chat: Chat
    members: int
    owner: User | None


def all_channels(actor: User) -> list[ChannelRow]:
    """Every channel, public and private, by name: what an administrator may know of each (the
    page shows a private one's name, member count and owner, never its messages)."""
    workspace.require_admin(actor)
    counted = db.session.execute(
        select(Chat, func.count(Membership.user_id)).outerjoin(Membership, Membership.chat_id == Chat.id)
        .where(Chat.kind == "group").group_by(Chat.id).order_by(func.lower(Chat.name), Chat.id)).all()
    owner_ids = {chat.owner_id for chat, _ in counted if chat.owner_id}
    owners = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(owner_ids)))} if owner_ids else {}
    return [ChannelRow(chat, members, owners.get(chat.owner_id)) for chat, members in counted]


def set_default(actor: User, chat_id: int, default: bool) -> Chat:
    """An administrator makes a public channel one that every new member joins, or no longer.
    Those already in the workspace are not put into it (the directory finds it for them)."""
    workspace.require_admin(actor)
    chat = db.session.get(Chat, chat_id)
    if chat is None or chat.is_direct:
        raise not_found()
    if chat.is_default == default:
        return chat
    if default and not chat.is_public:
        raise ChatError(f"#{chat.name} is private: only a public channel can be one every new member joins. "
                        "Nothing was changed.")
    if default and chat.is_archived:
        raise ChatError(f"#{chat.name} is archived: unarchive it first. Nothing was changed.")
    chat.is_default = default
    workspace.record(actor, "channel.default", f"#{chat.name}",
                     "new members join it" if default else "new members no longer join it")
    db.session.commit()
    return chat


def set_owner(actor: User, chat_id: int, username: str | None) -> User:
    """An administrator hands a channel to one of its members, who becomes one of its admins too."""
    workspace.require_admin(actor)
    chat = db.session.get(Chat, chat_id)
    if chat is None or chat.is_direct:
        raise not_found()
    wanted = (username or "").strip().lstrip("@").lower()
    membership = next((m for m in chat.memberships if m.user.username == wanted), None)
    if membership is None:
        raise ChatError(f"The owner must be a member of #{chat.name}: pick one of its members. Nothing was changed.")
    if chat.owner_id == membership.user_id:
        return membership.user
    previous = db.session.get(User, chat.owner_id) if chat.owner_id else None
    chat.owner_id = membership.user_id
    membership.role = "admin"
    message = add_system_message(chat, f"{actor.display_name} made {membership.user.display_name} the channel's owner")
    workspace.record(actor, "channel.owner", f"#{chat.name}",
                     f"@{previous.username if previous else 'nobody'} → @{membership.user.username}")
    db.session.commit()
    announce(message)
    return membership.user
