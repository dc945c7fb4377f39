"""What one open tab is subscribed to and what it may ask for over its socket.

A tab's socket is subscribed to the channel of every chat its user is in (to keep the chat
list live), to the user's own channel, and to the user's control channel. It shows one chat
at a time: on "view" it replays that chat from the database after the page's newest id, then
stays live. Frames from the browser are small JSON objects:

  {"type": "view", "chat": 5 | null, "after": 123, "changes": 7}   (changes: the page's change cursor;
      "thread": 40, "thread_after": 130 when a thread's pane is open: its replies after that id too)
  {"type": "send", "chat": 5, "body": "...", "client_id": "...", "reply_to": 120 (optional: a quote), ...form fields}
  {"type": "read", "chat": 5, "upto": 130}        the chat is in view in a visible tab
  {"type": "delivered", "chat": 5, "upto": 130}   messages reached this page
  {"type": "typing", "chat": 5, "state": "start" | "stop"}   ("thread": 40 when typing in its pane)
  {"type": "thread-read", "chat": 5, "thread": 40, "upto": 131}   a thread's pane is in view
  {"type": "view-state", "chat": 5 | null, "thread": 40 | null, "visible": true | false}   what the
      tab shows now (sent on every change): the notification rule passes over what is in view
      in a visible tab (core/notifications.py, in_view; live_state.set_view)
"""
import json
import logging
import secrets
import time
from collections import OrderedDict
from datetime import datetime
from typing import NamedTuple

import gevent
from flask import current_app, render_template, request
from flask.ctx import RequestContext
from flask.sessions import SecureCookieSession
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError

from ..core import broadcasts, changes, following, messaging, read_state, threads, work_budget
from ..core.errors import ChatError
from ..core.fragments import render_chat_list, render_role_links
from ..core.group_commit import SendRequest
from ..extensions import db
from ..models import Chat, Membership, User
from ..realtime.connection import POLICY_VIOLATION, SocketConnection
from ..realtime.frames import text_frame as _frame
from ..realtime.hub import Delivery, chat_channel, control_channel, user_channel
from ..templating import render_around

log = logging.getLogger(__name__)

# Messages rendered per step of a replay; between steps the worker serves everyone else, so one
# step is the longest anyone waits behind a catch-up (bench/README.md, abuse_views.py).
REPLAY_PAGE = 50
# A replay costs the socket's frame pace one frame per 20 messages: a page 1,000 messages behind
# catches up at once, a socket asking for the whole chat again and again is slowed to its pace.
# (The user's work budget counts the same, and the rendered size, over all their sockets.)
REPLAY_MESSAGES_PER_FRAME = work_budget.MESSAGES_PER_UNIT
SEND_KEYS = {"type", "chat", "body", "client_id", "reply_to", "after", "csrf_token", "HEADERS"}
VIEW_KEYS = {"type", "chat", "after", "changes", "thread", "thread_after"}
READ_KEYS = {"type", "chat", "upto"}
TYPING_KEYS = {"type", "chat", "state", "thread"}
THREAD_READ_KEYS = {"type", "chat", "thread", "upto"}
VIEW_STATE_KEYS = {"type", "chat", "thread", "visible"}
TYPING_THROTTLE_SECONDS = 2.5  # the page signals every 3 s while typing; more is ignored
_shared_environs: dict[tuple, dict] = {}
# (After ProxyFix: the handshake's environ has the proxy's scheme and host already.)
URL_ENVIRON = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")


class ReplayPage(NamedTuple):
    """One page of a replay as written: its frame's text, how many messages, the newest id."""
    text: str
    count: int
    newest: int


class RenderedReplays:
    """Replay pages of chats rendered lately, shared by every tab of this process: after a
    restart every page of a chat asks for the same messages after the same id, and a message
    frame is the same bytes for every viewer (render_message_frame). A page is looked up by
    (chat, after, the chat's count of messages, its count of changes): a new message (a reply in
    a thread too) or a change to any (edit, deletion, reaction, reply count) makes a new key, so what is served is
    what a render now would give, but for what changes no number (a name or an avatar changed):
    kept MAX_AGE seconds at most, as a live frame would have shown it."""

    MAX_PAGES = 256
    MAX_AGE = 30.0

    def __init__(self) -> None:
        self._pages: OrderedDict[tuple, tuple[float, ReplayPage]] = OrderedDict()

    def get(self, key: tuple) -> ReplayPage | None:
        found = self._pages.get(key)
        if found is None:
            return None
        if time.monotonic() - found[0] > self.MAX_AGE:
            del self._pages[key]
            return None
        self._pages.move_to_end(key)
        return found[1]

    def put(self, key: tuple, page: ReplayPage) -> None:
        self._pages[key] = (time.monotonic(), page)
        self._pages.move_to_end(key)
        while len(self._pages) > self.MAX_PAGES:
            self._pages.popitem(last=False)


_rendered_replays = RenderedReplays()


def _chat_counts(chat_id: int) -> tuple[int, int]:
    """The chat's (last_seq, last_change_seq): what a replay page is keyed by, and whether it has
    any change after a page's cursor (the number only moves forward, in the transaction that
    stores the change)."""
    return tuple(db.session.execute(_CHAT_COUNTS, {"chat": chat_id}).first() or (0, 0))


# Built once: every open reads both (the memberships twice), and building a statement cost about
# what SQLite's work for it does.
_CHAT_COUNTS = select(Chat.last_seq, Chat.last_change_seq).where(Chat.id == bindparam("chat"))
_MEMBER_CHATS = select(Membership.chat_id).where(Membership.user_id == bindparam("user"))


def _chat_replay(chat_id: int, user_id: int, counts: tuple[int, int]):
    """page(after): the chat's next replay page, from RenderedReplays when rendered lately (a
    page with nothing after it too: most reconnects then cost one primary-key lookup, of the chat
    row's counts, and no message query)."""

    def page(after: int) -> ReplayPage:
        key = (chat_id, after, *counts)
        found = _rendered_replays.get(key)
        if found is None:
            messages = messaging.messages_after(chat_id, db.session.get(User, user_id), after, REPLAY_PAGE)
            found = ReplayPage(messaging.render_message_frame(messages) if messages else "", len(messages),
                               messages[-1].id if messages else after)
            _rendered_replays.put(key, found)
        return found
    return page


def _rendered(fetch, render):
    """page(after) from fetch(after) (a list of messages) and render(messages) (their frame)."""
    def page(after: int) -> ReplayPage:
        messages = fetch(after)
        return ReplayPage(render(messages) if messages else "", len(messages), messages[-1].id if messages else after)
    return page


class TabUser(NamedTuple):
    id: int
    username: str
    hide_presence: bool
    last_seen_at: datetime | None


class ProtocolError(Exception):
    """A frame the server cannot act on; the text is shown to the user."""


class SendFailed(Exception):
    """A send refused or not stored: answered on the page's pending line, named by its client id."""

    def __init__(self, client_id: str, body: str, message: str) -> None:
        super().__init__(message)
        self.client_id, self.body, self.message = client_id, body, message


def _int(frame: dict, key: str, *, optional: bool = False) -> int | None:
    value = frame.get(key)
    if value is None and optional:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        value = int(value)  # htmx sends form values as strings
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 62:
        raise ProtocolError(f"“{key}” must be a whole number.")
    return value


class FrameContext(RequestContext):
    """A request context that, once popped, goes back to a pool for the next frame from any tab on
    the same host: making one (a Request, a URL adapter, matching "/") was much of what a
    context cost per frame. One greenlet holds a context at a time, from push to pop; one that
    ends with an error, or with anything in its session, is not reused."""

    MAX_FREE = 64  # per host: frames handled at the same moment beyond this make contexts anew

    @classmethod
    def take(cls, app, environ: dict) -> "FrameContext":
        """An idle context of this app for this (shared, per-host) environ, or a new one."""
        free = app.extensions.setdefault("webchat.frame_contexts", {}).setdefault(id(environ), [])
        if free:
            return free.pop()
        context = cls(app, dict(environ), session=SecureCookieSession())
        context._free = free
        return context

    def match_request(self) -> None:
        # Flask's hook for matching: every frame's request is "GET /" on one host, matched once.
        if self.request.url_rule is None and self.request.routing_exception is None:
            super().match_request()

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if exc_type is None and not self.session and len(self._free) < self.MAX_FREE:
            self._free.append(self)


class TabSession:
    """The server side of one tab: subscriptions, the open chat, and the frames it handles."""

    # Thousands of idle tabs per worker: no per-instance dict.
    __slots__ = ("hub", "app", "live", "budget", "user", "user_id", "typist", "tab_id", "session_token", "sid",
                 "open_chat", "chat_ids", "place", "conn", "_control", "_environ", "__weakref__")

    def __init__(self, hub, user: User, session_token: str, sid: str | None, ws, config) -> None:
        self.hub = hub
        self.app = current_app._get_current_object()
        self.live = current_app.extensions["webchat.live_state"]
        self.budget = current_app.extensions["webchat.work_budget"]
        # The presence signal's fields only: a detached ORM row would weigh on every idle socket.
        self.user = TabUser(user.id, user.username, user.hide_presence, user.last_seen_at)
        self.user_id = user.id
        self.typist = f"{user.username}|{user.display_name}"
        self.tab_id = secrets.token_hex(8)
        self.session_token = session_token
        self.sid = sid
        self.open_chat: int | None = None
        self.chat_ids: set[int] = set()
        self.place: str | None = None  # what it shows in view (live_state.set_view), None: hidden
        self.conn = SocketConnection(ws, ping_interval=config["SOCKET_PING_SECONDS"],
                                     max_message_size=config["SOCKET_MAX_MESSAGE_BYTES"], on_text=self.on_text,
                                     on_ping=self._still_here,
                                     frames_per_second=config.get("SOCKET_FRAMES_PER_SECOND", 0),
                                     heartbeat_interval=config.get("SOCKET_HEARTBEAT_SECONDS", 0))
        self.conn.skip_presence = user.hide_presence
        self._control = _ControlListener(self)
        # What a request context for rendering needs of the handshake (url_for, the host), and no
        # more: a detached socket keeps this small dict, not the handshake's request.
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "",
                   **{key: request.environ[key] for key in URL_ENVIRON if key in request.environ}}
        self._environ = _shared_environs.setdefault(tuple(environ.items()), environ)  # one per host, not per tab

    def context(self) -> "FrameContext":
        """A request context for handling one frame or command: templates and url_for need one.
        It has an empty session of its own: no cookie to read, and nothing is ever saved."""
        return FrameContext.take(self.app, self._environ)

    # ----- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.hub.subscribe(user_channel(self.user_id), self.conn)
        self.hub.subscribe(control_channel(self.user_id), self._control)
        self._sync_memberships()
        if self.live.tab_opened(self.user_id, self.tab_id):
            try:
                broadcasts.publish_presence(self.user, online=True)
            finally:
                db.session.remove()

    def _still_here(self) -> None:
        """Every ping: renew this tab's presence lease and its view's (both lapse unless renewed);
        if the shared state lost it, say online again."""
        if self.place is not None:
            self.live.set_view(self.user_id, self.tab_id, self.place)
        if self.live.tab_alive(self.user_id, self.tab_id):
            with self.context():
                try:
                    broadcasts.publish_presence(self.user, online=True)
                finally:
                    db.session.remove()

    def stop(self) -> None:
        self.place = None
        self.live.tab_closed(self.user_id, self.tab_id)  # its view goes with it
        if self.live.stop_typing(self.open_chat or 0, self.typist):
            broadcasts.publish_typing(self.open_chat)
        gevent.spawn(broadcasts.went_offline_later, self.app, self.user_id)
        for chat_id in self.chat_ids:
            self.hub.unsubscribe(chat_channel(chat_id), self.conn)
        self.hub.unsubscribe(user_channel(self.user_id), self.conn)
        self.hub.unsubscribe(control_channel(self.user_id), self._control)
        self.chat_ids = set()

    def _sync_memberships(self) -> None:
        """Subscribe to the chats the user is in now, and drop the ones they left or lost."""
        try:
            current = set(db.session.scalars(_MEMBER_CHATS, {"user": self.user_id}))
        finally:
            db.session.remove()  # a socket must not hold a pooled connection between frames
        for chat_id in current - self.chat_ids:
            self.hub.subscribe(chat_channel(chat_id), self.conn)
        for chat_id in self.chat_ids - current:
            self.hub.unsubscribe(chat_channel(chat_id), self.conn)
        removed_open = self.open_chat is not None and self.open_chat not in current
        self.chat_ids = current
        if removed_open:
            gone, self.open_chat = self.open_chat, None
            self.conn.write(_frame(render_template("realtime/_removed.html", chat_id=gone)))

    def drop_chat(self, chat_id: int) -> None:
        """Stop receiving a chat and refuse its frames, without a query (the user left or was removed)."""
        if chat_id in self.chat_ids:
            self.chat_ids = self.chat_ids - {chat_id}
            self.hub.unsubscribe(chat_channel(chat_id), self.conn)

    # ----- frames from the browser -----------------------------------------------------------

    def on_text(self, text: str) -> None:
        # Every frame costs the user's work budget one unit: their sockets together are read
        # no faster than it allows (this socket's reading waits meanwhile).
        wait = self.budget.charge(self.user_id, 1)
        if wait:
            gevent.sleep(wait)
            if self.conn.closed:
                return
        with self.context():
            self._on_text(text)

    def _on_text(self, text: str) -> None:
        try:
            try:
                frame = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
                raise ProtocolError("That frame was not JSON.") from None
            if not isinstance(frame, dict):
                raise ProtocolError("A frame must be a JSON object.")
            kind = frame.get("type")
            if kind == "view":
                self._view(frame)
            elif kind == "send":
                self._send(frame)
            elif kind == "read":
                self._read(frame)
            elif kind == "delivered":
                self._delivered(frame)
            elif kind == "typing":
                self._typing(frame)
            elif kind == "thread-read":
                self._thread_read(frame)
            elif kind == "view-state":
                self._view_state(frame)
            else:
                raise ProtocolError("Unknown frame type.")
        except ProtocolError as e:
            self.conn.write(_frame(render_template("realtime/_error.html", message=str(e))))
        except SendFailed as e:  # the page's pending line shows it, with its text kept for a retry
            db.session.rollback()
            self.conn.write(_frame(render_template(
                "realtime/_send_failed.html", client_id=e.client_id, body=e.body, error=e.message)))
        except ChatError as e:
            db.session.rollback()
            self.conn.write(_frame(render_template("realtime/_error.html", message=e.message)))
        except Exception:
            log.exception("socket frame failed")
            db.session.rollback()
            self.conn.write(_frame(render_template(
                "realtime/_error.html", message="Something went wrong; nothing was half-stored. Try again.")))
        finally:
            db.session.remove()

    def _check_keys(self, frame: dict, allowed: set[str]) -> None:
        extra = set(frame) - allowed
        if extra:
            raise ProtocolError("Unexpected fields: " + ", ".join(sorted(extra)[:5]))

    def _membership(self, chat_id: int) -> Membership:
        membership = db.session.scalar(
            select(Membership).where(Membership.chat_id == chat_id, Membership.user_id == self.user_id))
        if membership is None:
            raise ProtocolError("That chat is not available to you.")
        return membership

    def _member_chat(self, frame: dict) -> int:
        """The frame's chat, if the user is in it (as this socket's subscriptions know, no query)."""
        chat_id = _int(frame, "chat")
        if chat_id not in self.chat_ids:
            raise ProtocolError("That chat is not available to you.")
        return chat_id

    def _view(self, frame: dict) -> None:
        """Show a chat: replay everything after the page's newest message, then stay live.

        Page by page, each charged to the user's work budget and this socket's pace, with a turn
        of the loop between pages for everyone else (waiting, when either is spent)."""
        self._check_keys(frame, VIEW_KEYS)
        chat_id = _int(frame, "chat", optional=True)
        after = _int(frame, "after", optional=True) or 0
        # Pages view after every reconnect and resync: a membership change whose control message
        # was lost (Redis away) is caught up here like a missed message.
        self._sync_memberships()
        self.open_chat = None
        if chat_id is not None:
            if chat_id not in self.chat_ids:  # as the database said just now (_sync_memberships)
                raise ProtocolError("That chat is not available to you.")
            self.open_chat = chat_id  # subscribed already: live messages may overlap the replay
            db.session.remove()  # no pooled connection held while waiting for the turn
            with self.budget.turn(self.user_id):
                counts = _chat_counts(chat_id)
                self._replay(_chat_replay(chat_id, self.user_id, counts), after)
                # Then the edits, deletions and reactions the page missed, newest version of each.
                # None when the page's cursor is the chat's: a change stored after the counts were
                # read reaches this socket live (it is subscribed already).
                cursor = _int(frame, "changes", optional=True)
                if cursor is not None and cursor >= counts[1]:
                    cursor = None
                while cursor is not None and not self.conn.closed:
                    caught_up = changes.catch_up_changes(chat_id, cursor, changes.CATCH_UP_PAGE)
                    if caught_up.html:
                        self.conn.write(_frame(caught_up.html))
                    cursor = caught_up.more_from
                    if not self._spend(work_budget.cost(messages=caught_up.count, chars=len(caught_up.html)),
                                       frames=caught_up.count / REPLAY_MESSAGES_PER_FRAME):
                        break
                self._replay_thread(chat_id, frame)
        # The chat list as of now, for unread counts and order missed while away. Unversioned, like
        # every list the socket sends (_render_chat_list): the socket brings what changes, and a
        # socket open spares the version's statement; the page's next poll of it is a full one.
        chat_list = render_chat_list(db.session.get(User, self.user_id), oob=True, versioned=False)
        self.conn.write(_frame(chat_list))
        self.budget.charge(self.user_id, work_budget.cost(chars=len(chat_list)))

    def _replay_thread(self, chat_id: int, frame: dict) -> None:
        """The open thread pane's replies after its newest ("thread_after"), as the pane shows
        them, page by page under the same budgets as the chat's replay. The chat's replay sent
        the same replies as placeholders and thread frames already when they came after the
        chat's cursor; the page drops what it has."""
        thread_id = _int(frame, "thread", optional=True)
        if thread_id is None or self.conn.closed:
            return
        after = _int(frame, "thread_after", optional=True) or 0
        threads.thread_or_404(chat_id, db.session.get(User, self.user_id), thread_id)
        self._replay(_rendered(lambda after: threads.replies(thread_id, after=after, limit=REPLAY_PAGE),
                               messaging.render_thread_frames), after)

    def _replay(self, page_after, after: int) -> None:
        """Write the messages after id `after`, page by page (page_after(after): the next
        REPLAY_PAGE of them as a ReplayPage), each page charged to the budgets (_spend) before the next."""
        while True:
            page = page_after(after)
            if page.count:
                self.conn.write(_frame(page.text))
                after = page.newest
            if not self._spend(work_budget.cost(messages=page.count, chars=len(page.text)),
                               frames=page.count / REPLAY_MESSAGES_PER_FRAME) or page.count < REPLAY_PAGE:
                break

    def _spend(self, units: float, frames: float) -> bool:
        """Charge work done to the user's budget and `frames` to this socket's pace, then let the
        loop serve others: at once, or after a wait while either is spent (the database
        connection handed back meanwhile). False when the socket closed."""
        db.session.remove()
        wait = self.budget.charge(self.user_id, units)
        gevent.sleep(wait)  # sleep(0): a turn for everyone else between pages
        return self.conn.pace(frames)

    def _send(self, frame: dict) -> None:
        self._check_keys(frame, SEND_KEYS)
        chat_id = _int(frame, "chat")
        body, client_id = frame.get("body"), frame.get("client_id")
        if not isinstance(body, str) or not isinstance(client_id, str):
            raise ProtocolError("A message needs a text body and a client id.")
        if not messaging.CLIENT_ID.fullmatch(client_id):
            # A refusal names the pending line by its client id: an id the page did not make
            # must not become an element id in a frame.
            raise ProtocolError("This message could not be sent: its id is malformed. Reload the page and retry.")
        reply_to = _int(frame, "reply_to", optional=True)  # the message it quotes (core/quotes.py)
        try:
            # Checked and stored with the sends that arrived in the same turn (core/group_commit.py).
            result = self.app.extensions["webchat.send_queue"].send(
                SendRequest(chat_id, self.user_id, body, client_id, reply_to))
        except ChatError as e:
            raise SendFailed(client_id, body, e.message) from e
        except DBAPIError as e:
            # Nothing half-stored (the transaction rolled back); the retry reuses the client id.
            log.warning("database.unavailable during socket send")
            raise SendFailed(client_id, body, "webchat can't reach its database right now; retry in a moment") from e
        if result is None:
            raise ProtocolError("That chat is not available to you.")
        if self.live.stop_typing(chat_id, self.typist):
            broadcasts.publish_typing(chat_id)
        # The sender's confirmation: the stored message (again, if the broadcast came first:
        # the page drops the copy) and the end of the pending "sending…" line.
        self.conn.write(_frame((result.fragment or messaging.render_message_frame([result.message]))
                               + render_around("realtime/_sent.html", "client_id", client_id)))

    def _read(self, frame: dict) -> None:
        self._check_keys(frame, READ_KEYS)
        read_state.advance_read(self._member_chat(frame), self.user_id, _int(frame, "upto"))

    def _thread_read(self, frame: dict) -> None:
        """The thread's pane shows its replies up to upto in a visible tab: read so far (every tab
        of the user gets the new Threads badge)."""
        self._check_keys(frame, THREAD_READ_KEYS)
        user = db.session.get(User, self.user_id)
        _, parent = threads.thread_or_404(self._member_chat(frame), user, _int(frame, "thread"))
        following.mark_read(self.user_id, parent, _int(frame, "upto"))

    def _view_state(self, frame: dict) -> None:
        """What this tab shows now: a chat (with a thread's pane open), nothing, or hidden. Only
        its own person's notifications depend on it: a thread id is taken as said, no query."""
        self._check_keys(frame, VIEW_STATE_KEYS)
        visible = frame.get("visible")
        if not isinstance(visible, bool):
            raise ProtocolError("“visible” must be true or false.")
        chat_id = self._member_chat(frame) if frame.get("chat") is not None else None
        thread_id = _int(frame, "thread", optional=True)
        if thread_id is not None and chat_id is None:
            raise ProtocolError("A thread is in view only in its chat.")
        if not visible:
            place = None
        elif chat_id is None:
            place = ""
        else:
            place = f"{chat_id} t{thread_id}" if thread_id is not None else str(chat_id)
        self.place = place
        self.live.set_view(self.user_id, self.tab_id, place)

    def _delivered(self, frame: dict) -> None:
        self._check_keys(frame, READ_KEYS)
        read_state.advance_delivered(self._member_chat(frame), self.user_id, _int(frame, "upto"))

    def _typing(self, frame: dict) -> None:
        self._check_keys(frame, TYPING_KEYS)
        chat_id = self._member_chat(frame)
        thread_id = _int(frame, "thread", optional=True)
        where = broadcasts.typing_place(chat_id, thread_id)  # a thread's typists are its own
        if frame.get("state") == "stop":
            if self.live.stop_typing(where, self.typist):
                broadcasts.publish_typing(chat_id, thread_id)
        elif frame.get("state") == "start":
            if self.live.allow(f"typing:{self.user_id}:{where}", TYPING_THROTTLE_SECONDS):
                if thread_id is None:
                    self._membership(chat_id)  # it is broadcast: ask the database, not the subscriptions
                else:
                    threads.thread_or_404(chat_id, db.session.get(User, self.user_id), thread_id)
                self.live.start_typing(where, self.typist)
                broadcasts.publish_typing(chat_id, thread_id)
        else:
            raise ProtocolError("“state” must be start or stop.")

    # ----- commands from the control channel -----------------------------------------------

    def on_control(self, command: str) -> None:
        name, _, arg = command.partition(" ")
        try:
            if name in ("memberships", "left"):
                self._sync_memberships()
                self.conn.write(_frame(self._render_chat_list()))
            elif name == "role":
                self.conn.write(_frame(render_role_links(db.session.get(User, self.user_id))))
            elif name == "session-ended" and arg == self.sid:
                self.conn.close(POLICY_VIOLATION, "signed out")
            elif name == "credentials-changed":
                user = db.session.get(User, self.user_id)
                if user is None or user.session_token != self.session_token or not user.is_active_account:
                    self.conn.close(POLICY_VIOLATION, "signed out")
        finally:
            db.session.remove()

    def _render_chat_list(self) -> str:
        return render_chat_list(db.session.get(User, self.user_id), oob=True, versioned=False)


class _ControlListener:
    """Subscribed to the user's control channel; each command runs in a greenlet of its own,
    in a request context of the tab's (templates need it), because the publisher must never
    wait for our database queries."""

    __slots__ = ("tab",)

    def __init__(self, tab: TabSession) -> None:
        self.tab = tab

    def deliver(self, delivery: Delivery) -> None:
        name, _, arg = delivery.text.partition(" ")
        if name == "left" and arg.isdigit():
            # At once, in the publisher's turn rather than in a greenlet later: a message announced
            # after the removal must not reach this socket, nor a frame from it reach the chat.
            self.tab.drop_chat(int(arg))
        gevent.spawn(self._run, delivery.text)

    def _run(self, command: str) -> None:
        with self.tab.context():
            self.tab.on_control(command)
