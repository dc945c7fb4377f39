"""Fragments rendered for one viewer from several places (pages, polling, the socket)."""
from flask import render_template

from ..models import User
from . import following, service
from .presence import Presence


def render_role_links(person: User) -> str:
    """What a page shows or not by the person's workspace role, as swaps for their open pages."""
    return (render_template("_admin_link.html", person=person, oob=True)
            + render_template("chats/_sidebar_actions.html", person=person, oob=True))


def render_chat_list(viewer: User, oob: bool = False, versioned: bool = True) -> str:
    """The chat list, and with it the Threads badge (out of band): wherever a page gets its
    unread counts again (polling, the socket's catch-up on "view"), it gets both. versioned: the
    list's poll names its version (service.chat_list_version, read first), so a poll finding
    nothing changed is answered early (pages/chats.answer_idle_poll)."""
    version = service.chat_list_version(viewer.id) if versioned else None
    chats = service.chat_list(viewer)
    presence = Presence(viewer, [e.partner for e in chats if e.partner])
    return (render_template("chats/_chat_list.html", chats=chats, presence=presence, oob=oob, list_version=version)
            + following.render_badge(viewer.id, oob=True))
