"""The page front door: HTML pages, and the fragments htmx asks for, over webchat.core.

views.py holds what the views share: the pane-or-page choice, the chat pane's context, and the
one handler that turns the core's refusals into a flash fragment or a page.
"""
from flask import Blueprint

bp = Blueprint("chats", __name__)  # the name keeps the endpoints chats.*

from . import (  # noqa: E402,F401  (registers the views on bp)
    attachments,
    bots,
    channels,
    chats,
    directory,
    following,
    integrations,
    invitations,
    mentions,
    messages,
    people,
    quotes,
    reactions,
    search,
    threads,
    views,
)
