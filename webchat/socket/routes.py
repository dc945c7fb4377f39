"""The one WebSocket per browser tab, or per program: who may open it, and its life from handshake to close.

A browser is admitted by its session cookie and an allowed Origin; a program by an access token
in "Authorization: Bearer <token>" alone (no Origin: it is no browser, and a browser can't put a
token in a WebSocket's headers; no cookie is read). socket/program.py serves the program's.
"""
import atexit
import logging
import signal
import time
import weakref
from collections import Counter
from urllib.parse import urlsplit

import gevent
from flask import abort, current_app, g, request, session
from flask_login import current_user

from ..core import sessions, tokens
from ..core.broadcasts import current_hub
from ..errors import render_error
from ..extensions import db, sock
from ..realtime.connection import GOING_AWAY_RECONNECT
from ..realtime.event_loop import under_gevent
from . import bp, session_guard
from .program import ProgramSession
from .tab import TabSession

log = logging.getLogger(__name__)

# This process's open tabs: used only to say goodbye (1012) on shutdown and to cap sockets per
# user. Delivery never looks here; it goes through the hub.
_live_tabs: "weakref.WeakSet[TabSession]" = weakref.WeakSet()
_tabs_per_user: Counter[int] = Counter()  # kept beside _live_tabs: the cap check must not scan them all
_shutdown_hook_installed = False


def allowed_origins() -> set[str]:
    configured = current_app.config.get("ALLOWED_ORIGINS") or []
    own = f"{request.scheme}://{request.host}"
    return {own, *configured}


@bp.before_request
def admit_socket():
    """Refuse before the 101: anonymous users, bad tokens, foreign origins (for cookies), too many
    sockets; decline compression."""
    # Browsers always offer permessage-deflate and simple-websocket always accepts it, giving
    # each socket its own zlib stream at several times the CPU per delivery. Not offered, not used.
    request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    g.program_token = None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":  # a program's (other schemes, a proxy's Basic say, are not ours)
        token = tokens.authenticate(secret.strip())
        if token is None:
            abort(401)
        g.program_token = token
        return _under_cap(token.user_id)
    user = _signed_in()
    if user is None:
        abort(401)
    origin = request.headers.get("Origin", "")
    parts = urlsplit(origin)
    if not origin or f"{parts.scheme}://{parts.netloc}" != origin.rstrip("/") or origin.rstrip("/") \
            not in allowed_origins():
        abort(403)
    refused = _under_cap(user.id)
    if refused is None:
        # The request's user from here on (flask-login's current_user: the templates rendered in
        # this request, the security headers), so that nothing loads the ORM row after all.
        g._login_user = user
    return refused


def _signed_in():
    """The page's user: for the session cookie of a sign-in, its fields in one statement
    (sessions.signed_in); anything else (a remember-me cookie) as flask-login loads it. None: nobody."""
    login_id = sessions.cookie_login_id()
    if login_id is not None:
        user = sessions.signed_in(login_id)
        if user is not None:
            return user
    return current_user._get_current_object() if current_user.is_authenticated else None


def _under_cap(user_id: int):
    """None, or the refusal of a socket beyond the user's cap (pages' and programs' together)."""
    cap = current_app.config["SOCKETS_PER_USER"]
    if _tabs_per_user[user_id] >= cap:
        # The page can't show this (a refused handshake only fails), but a person or script reading it can.
        return render_error(429, f"You have {cap} webchat tabs open already. Close some of them; until then "
                                 "this one checks for new messages every "
                                 f"{current_app.config['POLL_INTERVAL_SECONDS']} seconds instead of live.")


@sock.route("/socket", bp=bp)
def socket(ws):
    """A tab's socket: live messages of the open chat and of the chat list, and sending; or a program's."""
    _install_shutdown_hook()
    token = g.program_token
    if token is not None:
        tab = ProgramSession(current_hub(), token.user, tokens.session_id(token), ws, current_app.config,
                             can_write=token.can_write)
    else:
        user = current_user._get_current_object()  # admit_socket's (sessions.SignedIn, or a User)
        tab = TabSession(current_hub(), user, user.session_token, session.get("sid"), ws, current_app.config)
    db.session.remove()  # the socket lives for hours; its database connection goes back now
    _live_tabs.add(tab)
    _tabs_per_user[tab.user_id] += 1
    opened = time.monotonic()
    log.info("socket.open user=%d tab=%s", tab.user_id, tab.tab_id)
    try:
        tab.start()
        session_guard.close_unless_signed_in(tab)
        session_guard.watch(current_app._get_current_object(), lambda: list(_live_tabs))
    except BaseException:
        _closed(tab, opened)
        raise
    if ws.mode == "gunicorn" and under_gevent():
        # Let this request end and serve the socket from a read watcher: an idle socket then
        # holds its buffers and objects, not this request nor a greenlet (see connection.py).
        tab.conn.detach()
        tab.conn.serve_detached(on_end=lambda: _ended(tab, opened))
    else:
        try:
            tab.conn.serve()  # a threaded development server: this thread is the socket's
        finally:
            _ended(tab, opened)


def _ended(tab: TabSession, opened: float) -> None:
    with tab.context():
        _closed(tab, opened)


def _closed(tab: TabSession, opened: float) -> None:
    try:
        tab.stop()
    finally:
        tab.conn.abort()
        _live_tabs.discard(tab)
        _tabs_per_user[tab.user_id] -= 1
        if _tabs_per_user[tab.user_id] <= 0:
            del _tabs_per_user[tab.user_id]
        log.info("socket.closed user=%d tab=%s seconds=%.0f", tab.user_id, tab.tab_id, time.monotonic() - opened)


def close_all_tabs() -> None:
    """Close every socket of this process with 1012 so the pages reconnect (to whichever worker)."""
    for tab in list(_live_tabs):
        tab.conn.close(GOING_AWAY_RECONNECT, "server restarting")


def _install_shutdown_hook() -> None:
    """Chain our goodbye in front of the server's own SIGTERM/SIGINT/SIGQUIT handlers, once.

    Installed at the first socket, i.e. inside the serving worker after gunicorn set its own
    handlers (without --preload, the app is imported after them).
    """
    global _shutdown_hook_installed
    if _shutdown_hook_installed:
        return
    _shutdown_hook_installed = True
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        previous = signal.getsignal(signum)

        def goodbye(sig, frame, previous=previous):
            closing = gevent.spawn(close_all_tabs)
            # Detached sockets keep no request open, so gunicorn does not wait for them: the
            # process waits at exit until every page has its 1012.
            atexit.register(closing.join, timeout=5)
            if callable(previous):
                previous(sig, frame)
            elif previous == signal.SIG_DFL:
                raise SystemExit(0)

        try:
            signal.signal(signum, goodbye)
        except ValueError:
            return  # not the main OS thread (a threaded dev server): no hook, sockets just drop
