"""Fragments rendered for one viewer from several places (pages, polling, the socket)."""
from flask import render_template

from ..models import User
from . import service
from .presence import Presence


def render_role_links(person: User) -> str:
    """What a page shows or not by the person's workspace role, as swaps for their open pages."""
    return (render_template("_admin_link.html", person=person, oob=True)
            + render_template("chats/_sidebar_actions.html", person=person, oob=True))


def render_chat_list(viewer: User, oob: bool = False) -> str:
    chats = service.chat_list(viewer)
    presence = Presence(viewer, [e.partner for e in chats if e.partner])
    return render_template("chats/_chat_list.html", chats=chats, presence=presence, oob=oob)
