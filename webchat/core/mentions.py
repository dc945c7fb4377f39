"""Names suggested as one types: the composer's @ list (the chat's members whose name starts with
what follows the "@") and the people picker's (people one shares a chat with).

static/mentions.js asks as the person types "@bo" (pages/mentions.py) and shows the answer
under the composer (templates/chats/_mention_suggestions.html). Mentions themselves are found
at send time (formatting.MENTION, messaging.mentionable) and counted in read_state.
"""
from sqlalchemy import case, func, or_, select

from ..extensions import db
from ..models import Membership, User

SUGGESTIONS = 8
MAX_QUERY = 32  # the longest username; a longer query matches nobody anyway


def suggest(chat_id: int, viewer: User, typed: str, limit: int = SUGGESTIONS) -> list[User]:
    """Other active members of the chat whose name matches `typed` (matching, below)."""
    in_chat = select(Membership.user_id).where(Membership.chat_id == chat_id)
    return _matching(in_chat, viewer, typed, limit)


def suggest_people(viewer: User, typed: str, limit: int = SUGGESTIONS) -> list[User]:
    """The people picker's suggestions (pages/people.py): active people who share a chat with the
    viewer and whose name matches `typed`. Only them: which other usernames exist is no one's
    business (service.users_by_username); anyone else is reached by typing their exact username."""
    their_chats = select(Membership.chat_id).where(Membership.user_id == viewer.id)
    known = select(Membership.user_id).where(Membership.chat_id.in_(their_chats))
    return _matching(known, viewer, typed, limit)


def _matching(people, viewer: User, typed: str, limit: int) -> list[User]:
    """The one rule of both lists: of the user ids `people` selects, other active users whose
    username, display name or a word of it starts with `typed` (case-insensitive); usernames that
    start with it first, then alphabetical."""
    prefix = typed.lower()
    query = select(User).where(User.id.in_(people), User.id != viewer.id, User.is_active_account.is_(True))
    by_username = User.username.startswith(prefix, autoescape=True)
    if prefix:
        display = func.lower(User.display_name)
        query = query.where(or_(by_username, display.startswith(prefix, autoescape=True),
                                display.contains(" " + prefix, autoescape=True)))
    return list(db.session.scalars(
        query.order_by(case((by_username, 0), else_=1), User.username).limit(limit)))
