"""Names suggested as one types: the composer's @ list (the chat's members whose name starts with
what follows the "@") and the people picker's and directory's (the people one may find:
workspace.findable).

static/mentions.js asks as the person types "@bo" (pages/mentions.py) and shows the answer
under the composer (templates/chats/_mention_suggestions.html). Mentions themselves are found
at send time (formatting.MENTION, messaging.mentionable) and counted in read_state.
"""
from sqlalchemy import case, func, or_, select

from ..extensions import db
from ..models import Membership, User
from . import workspace

SUGGESTIONS = 8
MAX_QUERY = 32  # the longest username; a longer query matches nobody anyway


def suggest(chat_id: int, viewer: User, typed: str, limit: int = SUGGESTIONS) -> list[User]:
    """Other active members of the chat whose name matches `typed` (matching, below)."""
    in_chat = select(Membership.user_id).where(Membership.chat_id == chat_id)
    return _matching(User.id.in_(in_chat), viewer, typed, limit)


def suggest_people(viewer: User, typed: str, limit: int = SUGGESTIONS) -> list[User]:
    """The people picker's suggestions (pages/people.py) and the directory of people: active people
    the viewer may find (workspace.findable: a guest only those they share a chat with) whose name
    matches `typed`."""
    return _matching(workspace.findable(viewer), viewer, typed, limit)


def _matching(people, viewer: User, typed: str, limit: int) -> list[User]:
    """The one rule of both lists: of the users the condition `people` admits, other active users whose
    username, display name or a word of it starts with `typed` (case-insensitive); usernames that
    start with it first, then alphabetical."""
    prefix = typed.lower()
    query = select(User).where(people, User.id != viewer.id, User.is_active_account.is_(True))
    by_username = User.username.startswith(prefix, autoescape=True)
    if prefix:
        display = func.lower(User.display_name)
        query = query.where(or_(by_username, display.startswith(prefix, autoescape=True),
                                display.contains(" " + prefix, autoescape=True)))
    return list(db.session.scalars(
        query.order_by(case((by_username, 0), else_=1), User.username).limit(limit)))
