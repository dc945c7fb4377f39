"""Bots (core/bots.py): the Bots page (/bots: the bots one owns, every bot for an administrator,
each with its tokens), and "Add a bot" on a channel's members page. Plain forms that post and
redirect; a new token's secret is shown in the answer to the form that made it, this once."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core import bots, service, tokens
from ..core.accounts import AccountError
from ..core.errors import ChatError
from ..extensions import db
from . import bp
from .chats import _members_page, _members_refusals


@bp.get("/bots")
def bots_page():
    """The bots one answers for, with their tokens; administrators also create bots here."""
    return _page()


def _page(status: int = 200, errors: dict | None = None, new_token: tokens.NewToken | None = None,
          token_for: str | None = None):
    return render_template("bots/bots.html", entries=bots.bots_for(current_user), errors=errors or {},
                           new_token=new_token, token_for=token_for, may_create=bots.may_create(current_user),
                           max_bots=bots.MAX_BOTS), status


@bp.post("/bots")
def create_bot():
    """Create a bot owned by oneself (workspace administrators; to anyone else, no such page)."""
    try:
        bot = bots.create_bot(current_user, request.form.get("username"), request.form.get("display_name"))
    except AccountError as e:
        db.session.rollback()
        return _page(422, errors=e.errors)
    flash(f"Bot @{bot.username} created. Make it a token, then add it to chats like anyone.")
    return redirect(url_for("chats.bots_page", _anchor=f"bot-{bot.username}"))


@bp.post("/bots/<username>/tokens")
def create_bot_token(username: str):
    """Make a token for a bot one owns (or any bot, as an administrator); its secret shows this once."""
    try:
        made = bots.create_token(current_user, username, request.form.get("name"), request.form.get("scope"))
    except ChatError as e:
        if e.status == 404:
            raise
        db.session.rollback()
        return _page(e.status, errors={"token": e.message}, token_for=username)
    return _page(new_token=made)


@bp.post("/bots/<username>/tokens/<id:token_id>/revoke")
def revoke_bot_token(username: str, token_id: int):
    """Revoke one of a bot's tokens: it stops working at once and its sockets close."""
    token = bots.bot_token(current_user, username, token_id)
    tokens.revoke(token)
    flash(f"Token “{token.name}” of @{username} revoked.")
    return redirect(url_for("chats.bots_page", _anchor=f"bot-{username}"))


@bp.post("/bots/<username>/deactivate")
def deactivate_bot(username: str):
    """Deactivate a bot: its tokens are revoked and their sockets close; its messages stay."""
    bot = bots.deactivate(current_user, username)
    flash(f"@{bot.username} is deactivated and its tokens revoked.")
    return redirect(url_for("chats.bots_page"))


@bp.post("/chats/<id:chat_id>/bots")
def add_bot(chat_id: int):
    """Create a bot owned by oneself and add it to this channel (its admins, and administrators)."""
    membership = service.membership_or_404(chat_id, current_user)
    with _members_refusals(membership):
        try:
            bot = bots.create_bot(current_user, request.form.get("username"), request.form.get("display_name"),
                                  membership=membership)
        except AccountError as e:
            db.session.rollback()
            return _members_page(membership, status=422, error=" ".join(e.errors.values()))
    return _members_page(membership, notice=f"Added the bot {bot.display_name} (@{bot.username}). "
                                            "Make its token on the Bots page.")


@bp.app_template_global()
def may_add_bot(membership) -> bool:
    """The members page offers "Add a bot" to whom core/bots.py lets create one there."""
    return bots.may_create(current_user, membership) and not membership.chat.is_direct
