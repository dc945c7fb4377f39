"""The socket front door: one WebSocket per browser tab (routes.py), the frames it may send
(tab.py) and the check that no socket outlives its sign-in (session_guard.py).

Contract: frames become calls into webchat.core; a refusal (core.errors.ChatError) becomes an
error frame in TabSession._on_text, the one place that does. Below it only the transport
(webchat.realtime) moves bytes.
"""
from flask import Blueprint

from ..realtime.connection import NoThread

bp = Blueprint("realtime", __name__)  # the name keeps the endpoint "realtime.socket"


@bp.record_once
def _read_in_the_handler(state) -> None:
    """simple-websocket's reader thread is not started: our read loop runs in the handler's greenlet."""
    state.app.config.setdefault("SOCK_SERVER_OPTIONS", {}).setdefault("thread_class", NoThread)


from . import routes  # noqa: E402,F401  (registers the socket route on bp)
