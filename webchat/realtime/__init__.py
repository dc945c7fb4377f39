"""Real-time delivery: the socket route, each tab's session, and the hub that moves rendered HTML."""
from flask import Blueprint

bp = Blueprint("realtime", __name__)

from . import routes  # noqa: E402,F401  (registers the socket route on bp)
