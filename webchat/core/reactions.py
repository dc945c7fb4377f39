"""Reactions: one emoji from a person on a message, toggled on and off, shown grouped with who reacted.

A reaction is a change to its message like an edit (changes.py): it takes the chat's next change
number, and the message is rendered again, once, and published to the chat. The grouping below
feeds templates/chats/_reactions.html, which is the same for every viewer: whose reactions are
"mine" comes from data-by and the per-viewer rule in base.html.
"""
import logging
from functools import cache

import emoji as emoji_data
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Membership, Message, Reaction
from . import program_events, send_budget
from .changes import announce_change, record_change
from .errors import ChatError
from .reaction_groups import ReactionGroup, group_reactions  # noqa: F401 - pages use them from here
from .read_only import check_writable

log = logging.getLogger(__name__)

# The picker's quick choices; any other single emoji can be typed in.
QUICK_REACTIONS = ("👍", "❤️", "😂", "🎉", "😮", "😢")
MAX_DISTINCT_EMOJI = 20  # different emoji on one message: beyond this, people add to an existing one
MAX_INPUT_CHARS = 64  # the longest emoji is 10 code points; anything far longer is not one
VARIATION_SELECTOR = "\ufe0f"


@cache
def _fully_qualified() -> dict[str, str]:
    # "❤" typed on one keyboard and "❤️" picked from the set are the same reaction: key every
    # emoji by its form without the emoji-style selector, and store the fully qualified one.
    qualified = emoji_data.STATUS["fully_qualified"]
    return {key.replace(VARIATION_SELECTOR, ""): key
            for key, data in emoji_data.EMOJI_DATA.items() if data["status"] == qualified}


def normalize_emoji(raw: str | None) -> str:
    """The one emoji in raw, fully qualified; ChatError (422) for anything else."""
    text = (raw or "").strip()
    if not text:
        raise ChatError("Pick an emoji to react with.")
    if len(text) > MAX_INPUT_CHARS:
        raise ChatError("That is too long for a reaction: react with a single emoji. Nothing was changed.")
    data = emoji_data.EMOJI_DATA.get(text)
    if data is not None and data["status"] != emoji_data.STATUS["component"]:
        return _fully_qualified().get(text.replace(VARIATION_SELECTOR, ""), text)
    compact = "".join(text.split())
    if len(emoji_data.emoji_list(compact)) > 1 and emoji_data.purely_emoji(compact):
        raise ChatError("React with one emoji at a time. Nothing was changed.")
    raise ChatError("Reactions are a single emoji (like 👍 or 🎉), not text. Nothing was changed.")


def check_reactable(message: Message) -> None:
    if message.is_system:
        raise ChatError("Chat events can't be reacted to.", 403)
    if message.is_deleted:
        raise ChatError("That message was deleted; it can't take reactions.", 409)


def toggle_reaction(membership: Membership, message: Message, raw_emoji: str | None) -> bool:
    """Add the member's reaction with this emoji, or take it back if they had it; True when added.

    Announced to the chat after commit. A toggle racing another of the same person's ends as if
    it ran after it: never an error (a double click must not show one).
    """
    check_writable(membership.chat)
    emoji = normalize_emoji(raw_emoji)
    check_reactable(message)
    send_budget.spend(membership.user_id, send_budget.REACT)  # a budget of its own: a reply still goes out
    # The chat-row UPDATE behind the change number locks the chat until commit, so what is read
    # below is not changed by a concurrent toggle before this one commits.
    record_change(message)
    if db.session.scalar(select(Message.deleted_at).where(Message.id == message.id)) is not None:
        raise ChatError("That message was deleted; it can't take reactions.", 409)
    mine = (Reaction.message_id == message.id, Reaction.user_id == membership.user_id, Reaction.emoji == emoji)
    removed = db.session.execute(delete(Reaction).where(*mine)).rowcount
    if not removed:
        _check_room_for(message, emoji)
        db.session.add(Reaction(message_id=message.id, user_id=membership.user_id, emoji=emoji))
    try:
        db.session.commit()
    except IntegrityError:
        # The same reaction stored by a concurrent request after all (a database that does not
        # hold the chat lock, say): what was asked for is there, and that request announced it.
        db.session.rollback()
        log.info("reaction.raced chat=%d id=%d", message.chat_id, message.id)
        return True
    log.info("reaction.%s chat=%d id=%d by=%d", "removed" if removed else "added",
             message.chat_id, message.id, membership.user_id)
    user = membership.user
    announce_change(message, event=lambda: [program_events.reaction(message, user, emoji, added=not removed)])
    return not removed


def _check_room_for(message: Message, emoji: str) -> None:
    distinct = db.session.scalars(
        select(Reaction.emoji).where(Reaction.message_id == message.id).group_by(Reaction.emoji)).all()
    if emoji not in distinct and len(distinct) >= MAX_DISTINCT_EMOJI:
        raise ChatError(f"This message already has {MAX_DISTINCT_EMOJI} different reactions; add yours to "
                        "one of them instead. Nothing was changed.", 409)

