"""The directory: the public channels one may find and join, the people one may find, and a
look into a public channel before joining it (its history, read-only).

Who may browse is workspace.may_browse (everyone but guests); who finds whom is
workspace.findable. To a guest the directory and every preview do not exist (404), and a
private chat answers 404 to a non-member exactly as before.
"""
from dataclasses import dataclass

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Chat, Membership, User
from . import send_budget, service, workspace
from .broadcasts import publish_control
from .errors import not_found
from .mentions import suggest_people
from .messaging import add_system_message

LISTED = 50  # channels or people a page lists; a search narrows a longer list
MAX_QUERY = 80  # the longest channel name; a longer search matches nothing anyway


@dataclass
class ChannelEntry:
    chat: Chat
    members: int
    joined: bool  # the viewer is a member


def _require_browse(viewer: User) -> None:
    if not workspace.may_browse(viewer):
        raise not_found()


def _listed():
    """The channels the directory lists and previews show: public and not archived."""
    return (Chat.kind == "group") & Chat.is_public.is_(True) & Chat.archived_at.is_(None)


def channels(viewer: User, typed: str = "", limit: int = LISTED) -> tuple[list[ChannelEntry], bool]:
    """Public channels whose name or topic holds `typed` (case-insensitive): the viewer's own
    first, then the busiest, then the most recently active. Also: whether more matched than
    `limit`. ChatError 404 for a guest."""
    _require_browse(viewer)
    members = (select(func.count()).select_from(Membership).where(Membership.chat_id == Chat.id)
               .correlate(Chat).scalar_subquery())
    joined = (select(func.count()).select_from(Membership)
              .where(Membership.chat_id == Chat.id, Membership.user_id == viewer.id)
              .correlate(Chat).scalar_subquery())
    query = select(Chat, members, joined).where(_listed())
    typed = typed.strip().removeprefix("#").lower()[:MAX_QUERY]
    if typed:
        query = query.where(or_(func.lower(Chat.name).contains(typed, autoescape=True),
                                func.lower(Chat.topic).contains(typed, autoescape=True)))
    rows = db.session.execute(query.order_by(case((joined > 0, 0), else_=1), members.desc(),
                                             Chat.last_activity_at.desc(), Chat.id).limit(limit + 1)).all()
    return [ChannelEntry(chat, count, bool(mine)) for chat, count, mine in rows[:limit]], len(rows) > limit


def people(viewer: User, typed: str = "", limit: int = LISTED) -> tuple[list[User], bool]:
    """Other active people the viewer may find whose name matches `typed` (the people picker's
    rule, mentions.suggest_people); and whether more matched than `limit`. ChatError 404 for a guest."""
    _require_browse(viewer)
    found = suggest_people(viewer, typed.strip().removeprefix("@")[:MAX_QUERY], limit + 1)
    return found[:limit], len(found) > limit


def previewable_or_404(chat_id: int, viewer: User) -> Chat:
    """A public, unarchived channel the viewer may look into without joining; ChatError 404 for
    anything else (a private chat, a direct message, an archived channel) and for a guest."""
    _require_browse(viewer)
    chat = db.session.scalar(select(Chat).where(Chat.id == chat_id, _listed()))
    if chat is None:
        raise not_found()
    return chat


def readable_or_404(chat_id: int, viewer: User) -> Chat:
    """A chat whose history (and files) the viewer may read: one they are in, or a public channel
    they may preview; ChatError 404 for anything else."""
    membership = service.find_membership(chat_id, viewer)
    return membership.chat if membership else previewable_or_404(chat_id, viewer)


def member_count(chat: Chat) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership).where(Membership.chat_id == chat.id))


def join(chat_id: int, user: User) -> Chat:
    """Join a public channel: a system message "X joined" to its members, and the joiner's tabs
    take it into their chat list. Already a member: nothing changes. ChatError 404 as for a
    preview (previewable_or_404)."""
    chat = previewable_or_404(chat_id, user)
    if service.find_membership(chat.id, user) is not None:
        return chat
    send_budget.spend(user.id, send_budget.JOIN)  # its system message goes to every member
    # A row of its own: appending to chat.memberships would load every member of a big channel.
    db.session.add(Membership(chat_id=chat.id, user_id=user.id))
    try:
        message = add_system_message(chat, f"{user.display_name} joined")
        db.session.commit()
    except IntegrityError:  # the same person joined from another tab at the same moment
        db.session.rollback()
        return previewable_or_404(chat_id, user)
    publish_control([user.id], "memberships")  # their sockets subscribe, their lists show it
    service.announce_membership(chat, message, joined=[user])
    return chat
