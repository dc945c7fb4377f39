"""Bot accounts: a program's account in the workspace, owned by a person.

A bot is a user row (is_bot, bot_owner_id) added to chats like anyone (service.add_members) and
shown with a "bot" badge wherever names show (templates/_bot_badge.html). It has no password: it
signs in with access tokens (core/tokens.py) made by its owner or a workspace administrator.
A workspace administrator creates bots on the Bots page; a channel's admin creates one from the
channel's members page, which also adds it there. Deactivating a bot, or its owner
(accounts.set_active), revokes its tokens and closes their sockets.
"""
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import ApiToken, Membership, User
from ..text_rules import unstorable
from . import accounts, service, tokens, workspace
from .errors import ChatError, not_found
from .read_only import check_writable

MAX_BOTS = 25  # active bots per owner: enough for every integration, few enough to answer for
# No password hash has this form (werkzeug's are "method$salt$hash"): no password ever matches.
NO_PASSWORD = "!bot"


@dataclass(frozen=True)
class BotEntry:
    """A bot as the Bots page lists it: its owner (None: no longer here) and its live tokens."""

    bot: User
    owner: User | None
    tokens: list[ApiToken]


def may_create(user: User, membership: Membership | None = None) -> bool:
    """Workspace administrators create bots anywhere; a channel's admin (not a guest) in that channel."""
    if user.is_workspace_admin:
        return True
    return (membership is not None and membership.is_admin and not membership.chat.is_direct
            and not user.is_guest)


def may_manage(actor: User, bot: User) -> bool:
    """A bot's tokens and deactivation are for its owner and the workspace's administrators."""
    return bot.is_bot and (bot.bot_owner_id == actor.id or actor.is_workspace_admin)


def create_bot(creator: User, username: str | None, display_name: str | None,
               membership: Membership | None = None) -> User:
    """A new bot owned by creator; with membership (the creator's in a channel), also added to that
    channel as its members page adds people. AccountError for the names (nothing stored), ChatError
    for who may (404 on the Bots page to a non-administrator, 403 in a channel to a non-admin)."""
    if membership is None:
        workspace.require_admin(creator)
    else:
        if membership.chat.is_direct:
            raise ChatError("A direct message can't have more members; add the bot to a channel.", 400)
        if not may_create(creator, membership):
            raise ChatError("Only the channel's admins can add a bot to it.", 403)
        check_writable(membership.chat)
    if owned_count(creator) >= MAX_BOTS:
        raise ChatError(f"You own {MAX_BOTS} bots already, the most one person may. "
                        "Deactivate one you no longer need first.", 409)
    username, display_name, errors = accounts.new_names(username, display_name)
    if errors:
        raise accounts.AccountError(errors)
    bot = User(username=username, display_name=display_name, role="member", is_bot=True,
               bot_owner_id=creator.id, password_hash=NO_PASSWORD)
    db.session.add(bot)
    workspace.record(creator, "bot.create", f"@{username}", f"owned by @{creator.username}")
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the name was taken between our check and the insert
        raise accounts.AccountError({"username": "That username is taken."}) from None
    if membership is not None:
        service.add_members(membership, bot.username)  # the system line, the live member count
    return bot


def owned_count(owner: User) -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(
        User.is_bot.is_(True), User.bot_owner_id == owner.id, User.is_active_account.is_(True)))


def bots_for(viewer: User) -> list[BotEntry]:
    """The bots the viewer answers for (every bot, for an administrator), active ones first."""
    query = select(User).where(User.is_bot.is_(True)).order_by(User.is_active_account.desc(), User.username)
    if not viewer.is_workspace_admin:
        query = query.where(User.bot_owner_id == viewer.id)
    bots = list(db.session.scalars(query))
    owner_ids = {bot.bot_owner_id for bot in bots if bot.bot_owner_id is not None}
    owners = {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(owner_ids)))} \
        if owner_ids else {}
    return [BotEntry(bot, owners.get(bot.bot_owner_id), tokens.tokens_of(bot)) for bot in bots]


def bot_or_404(actor: User, username: str) -> User:
    """The bot so named, when actor may manage it; the usual 404 for anything else (a person, no one)."""
    bot = None if unstorable(username) else db.session.scalar(select(User).where(User.username == username.lower()))
    if bot is None or not may_manage(actor, bot):
        raise not_found()
    return bot


def create_token(actor: User, username: str, name: str | None, scope: str | None) -> tokens.NewToken:
    """A token for the bot, made by its owner or an administrator (shown once)."""
    bot = bot_or_404(actor, username)
    if not bot.is_active_account:
        raise ChatError(f"@{bot.username} is deactivated: an administrator reactivates it "
                        "(Administration → People) before it gets a token.", 409)
    return tokens.create(bot, name, scope, created_by=actor)


def bot_token(actor: User, username: str, token_id: int) -> ApiToken:
    """One of the bot's live tokens, for its owner or an administrator to revoke; else 404."""
    return tokens.token_of(bot_or_404(actor, username), token_id)


def deactivate(actor: User, username: str) -> User:
    """Take the bot out of service: its tokens revoked, their sockets closed, its name kept on
    what it wrote. Only an administrator brings it back (Administration → People)."""
    bot = bot_or_404(actor, username)
    if bot.is_active_account:
        workspace.record(actor, "bot.deactivate", f"@{bot.username}")
        accounts.set_active(bot, False)  # commits the audit line with the change
    return bot
