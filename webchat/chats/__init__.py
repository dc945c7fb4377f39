from flask import Blueprint

bp = Blueprint("chats", __name__)

from . import attachment_routes, mentions, message_routes, reaction_routes, routes, search_routes  # noqa: E402,F401  (registers the views on bp)
