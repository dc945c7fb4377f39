"""No socket outlives its sign-in.

Logging out, a password change and deactivation close a user's sockets at once through the
control channel. This is the net under that: every SESSION_CHECK_SECONDS each worker asks the
database, in one query per 500 sign-ins, which of its open sockets' login sessions are still live,
and closes the others with 1008. It catches what no control message announces (a sign-in that
expired, an account deactivated from the command line while the hub is in-process) and what one
could miss (a socket whose handshake crossed its logout, a Redis message lost).
A program's socket carries its token's id instead of a login session's (tokens.session_id): it
lives while the token is not revoked and its user (a person or a bot) is active.
"""
import logging

import gevent
from sqlalchemy.exc import SQLAlchemyError

from ..core import sessions, tokens
from ..extensions import db
from ..realtime.connection import POLICY_VIOLATION

log = logging.getLogger(__name__)

_watcher: gevent.Greenlet | None = None


def close_unless_signed_in(tab) -> None:
    """Right after a socket subscribed: a logout between its handshake and now went unheard."""
    try:
        live = still_live([tab.sid])
    finally:
        db.session.remove()
    if tab.sid not in live:
        tab.conn.close(POLICY_VIOLATION, "signed out")


def still_live(sids) -> set[str]:
    """Which of these sockets' sign-ins are live: login sessions' and tokens' alike."""
    sids = {sid for sid in sids if sid}
    of_tokens = {sid for sid in sids if tokens.is_session_id(sid)}
    return sessions.still_live(sids - of_tokens) | tokens.live_sessions(of_tokens)


def watch(app, open_tabs) -> None:
    """Start this process's check (once); open_tabs() lists the tabs it serves."""
    global _watcher
    if _watcher is None or _watcher.dead:
        _watcher = gevent.spawn(_run, app, open_tabs)


def _run(app, open_tabs) -> None:
    interval = app.config["SESSION_CHECK_SECONDS"]
    while True:
        gevent.sleep(interval)
        tabs = [tab for tab in open_tabs() if not tab.conn.closed]
        if not tabs:
            continue
        with app.app_context():
            try:
                live = still_live(tab.sid for tab in tabs)
            except SQLAlchemyError as e:
                # The database is away: say nothing about anyone's sign-in until it is back.
                log.warning("session_check.skipped error=%s", type(e).__name__)
                continue
            finally:
                db.session.remove()
        ended = [tab for tab in tabs if tab.sid not in live]
        for tab in ended:
            tab.conn.close(POLICY_VIOLATION, "signed out")
        if ended:
            log.info("session_check.closed sockets=%d", len(ended))
