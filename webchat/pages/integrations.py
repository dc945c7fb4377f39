"""A chat's Integrations (its members page, chats/_integrations.html): add an incoming webhook
(its URL shown once), add an outgoing one (its signing secret shown), revoke. core/webhooks.py
decides who may (the chat's admins, workspace administrators in it)."""
from flask import request, url_for
from flask_login import current_user

from ..core import service, webhooks
from . import bp
from .chats import _members_page, _members_refusals


@bp.post("/chats/<id:chat_id>/webhooks/incoming")
def add_incoming_webhook(chat_id: int):
    """Make an incoming webhook: a secret URL that posts into the chat as a new bot."""
    membership = service.membership_or_404(chat_id, current_user)
    with _members_refusals(membership):
        new = webhooks.create_incoming(membership.chat, current_user, request.form.get("name"))
    url = url_for("hooks.incoming", secret=new.secret, _external=True)
    return _members_page(membership, notice=f"Webhook {new.webhook.name} added. Copy its URL now: it is shown once.",
                         new_hook=new.webhook, new_hook_url=url)


@bp.post("/chats/<id:chat_id>/webhooks/outgoing")
def add_outgoing_webhook(chat_id: int):
    """Make an outgoing webhook: the chat's messages posted, signed, to a URL."""
    membership = service.membership_or_404(chat_id, current_user)
    with _members_refusals(membership):
        new = webhooks.create_outgoing(membership.chat, current_user, request.form.get("name"),
                                       request.form.get("url"), request.form.get("trigger"))
    return _members_page(membership, notice=f"Webhook {new.webhook.name} added. Check its signatures with the "
                                            "signing secret below.", new_hook=new.webhook)


@bp.post("/chats/<id:chat_id>/webhooks/<id:hook_id>/revoke")
def revoke_webhook(chat_id: int, hook_id: int):
    """Revoke a webhook: its URL stops working, nothing more is posted to it, its bot leaves."""
    membership = service.membership_or_404(chat_id, current_user)
    with _members_refusals(membership):
        hook = webhooks.revoke(membership.chat, current_user, hook_id)
    return _members_page(membership, notice=f"Webhook {hook.name} revoked.")
