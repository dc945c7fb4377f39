"""A program's socket: the same /socket, opened with an access token, speaking JSON only.

A program (a bot, a script) receives the JSON events of the chats it subscribes to, one by one
(never the others': a chat's events start with its catch-up, so none arrives twice). It is told
when its user joins or leaves a chat ({"type": "chat.added" | "chat.removed", "chat"}); a chat it
leaves is unsubscribed at once. Its user's control channel closes it when its token is revoked.
Events are published once per change by core/program_events.py to each chat's program channel,
which pages never join.

Frames from the program, one JSON object each:

  {"type": "subscribe" | "view", "chat": 5, "after": 120, "changes": 40}   (after, changes: optional)
      subscribe to a chat's live events, catching up first: every message after id 120
      (message.created, in id order), then every message changed after change number 40 (its
      newest version: message.changed or message.deleted), then {"type": "caught-up", "chat",
      "after", "changes"}. Live events of the chat wait meanwhile and follow in order; those
      the catch-up covered are dropped, so none arrives twice. Keep the newest message id and
      change_seq seen, and subscribe with them after a reconnect.
  {"type": "unsubscribe", "chat": 5}
  {"type": "send", "chat": 5, "text": "...", "client_id": "...", "reply_to": 120 (optional)}
      answered {"type": "sent", "client_id", "message"}; a repeated client id answers the message
      stored under it, storing nothing new.
  {"type": "typing", "chat": 5, "state": "start" | "stop"}    {"type": "read", "chat": 5, "upto": 130}

A refusal is {"type": "error", "client_id" (for a send), "error": {"code", "message"}}.
After Redis was away the server sends {"type": "resync"}: catch up again from the cursors kept.
"""
import json
import logging

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from ..core import changes, messaging, program_events, work_budget
from ..core.errors import ChatError
from ..core.group_commit import SendRequest
from ..extensions import db
from ..models import Membership, Message, User
from ..realtime.frames import text_frame
from ..realtime.hub import Delivery, control_channel, program_channel
from .tab import READ_KEYS, REPLAY_MESSAGES_PER_FRAME, REPLAY_PAGE, TYPING_KEYS, ProtocolError, TabSession, _int

log = logging.getLogger(__name__)

SUBSCRIBE_KEYS = {"type", "chat", "after", "changes"}
SEND_KEYS = {"type", "chat", "text", "client_id", "reply_to"}
CODES = {400: "invalid", 403: "forbidden", 404: "not_found", 409: "conflict", 413: "too_large", 422: "invalid",
         429: "rate_limited"}
READ_ONLY = "This token may only read. Make one that may read and write."
CHANGE_EVENTS = {"message.changed", "message.deleted", "reaction"}


class Refused(Exception):
    """A frame refused: answered as an error event (with the send's client id)."""

    def __init__(self, code: str, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.client_id = code, message, client_id


def _event_ids(delivery: Delivery) -> tuple[str, int, int]:
    """(type, message id, change number) of a published event, read once per publication (the
    Delivery is shared by every socket it goes to) and only by sockets that must filter it."""
    ids = delivery.__dict__.get("program_ids")
    if ids is None:
        event = json.loads(delivery.text)
        message = event.get("message") or {}
        ids = delivery.__dict__["program_ids"] = (event.get("type"), message.get("id", 0), message.get("change_seq", 0))
    return ids


class ProgramSession(TabSession):
    """The server side of one program's socket (see the module's notes)."""

    __slots__ = ("can_write", "held", "floors")

    def __init__(self, hub, user: User, sid: str, ws, config, *, can_write: bool) -> None:
        super().__init__(hub, user, user.session_token, sid, ws, config)
        self.conn.heartbeat_interval = 0  # the pages' heartbeat is HTML; a program has WebSocket pings
        self.can_write = can_write
        # Per chat, while it catches up: the live deliveries waiting for the catch-up's end.
        self.held: dict[int, list[Delivery]] = {}
        # Per chat subscribed: the newest message id and change number its catch-up gave (live
        # events at or below them were in it).
        self.floors: dict[int, tuple[int, int]] = {}

    # ----- lifecycle: no presence, no pages' channels ------------------------------------------

    def start(self) -> None:
        self.hub.subscribe(control_channel(self.user_id), self._control)
        self._sync_memberships(announce=False)

    def stop(self) -> None:
        for chat_id in self.floors.keys() | self.held.keys():
            self.hub.unsubscribe(program_channel(chat_id), self)
        self.hub.unsubscribe(control_channel(self.user_id), self._control)
        self.chat_ids = set()

    def _still_here(self) -> None:
        pass  # a program is nobody's "online" dot

    def _sync_memberships(self, announce: bool = True) -> None:
        try:
            current = set(db.session.scalars(select(Membership.chat_id).where(Membership.user_id == self.user_id)))
        finally:
            db.session.remove()
        for chat_id in sorted(current - self.chat_ids):
            if announce:
                self._write({"type": "chat.added", "chat": chat_id})
        gone = self.chat_ids - current
        self.chat_ids = current
        for chat_id in sorted(gone):
            self._forget(chat_id)

    def drop_chat(self, chat_id: int) -> None:
        if chat_id in self.chat_ids:
            self.chat_ids = self.chat_ids - {chat_id}
            self._forget(chat_id)

    def _forget(self, chat_id: int) -> None:
        self._unsubscribe(chat_id)
        self._write({"type": "chat.removed", "chat": chat_id})

    def _unsubscribe(self, chat_id: int) -> None:
        self.hub.unsubscribe(program_channel(chat_id), self)
        self.held.pop(chat_id, None)
        self.floors.pop(chat_id, None)

    # ----- live events -------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> None:
        """The hub's entry point: the event's frame, built once for every socket it goes to."""
        if delivery.channel == "resync":  # RedisHub after Redis came back: something may be lost
            self._write({"type": "resync"})
            return
        chat_id = int(delivery.channel.rpartition(":")[2])
        held = self.held.get(chat_id)
        if held is not None:
            held.append(delivery)
        elif self._new(chat_id, delivery):
            self.conn.write(delivery.frame)

    def _new(self, chat_id: int, delivery: Delivery) -> bool:
        """Not covered by the chat's catch-up: a message after its newest id, a change after its cursor."""
        floor = self.floors.get(chat_id)
        if floor is None:
            return False  # unsubscribed meanwhile
        if floor == (0, 0):
            return True  # subscribed without a catch-up: everything live is new
        kind, message_id, change = _event_ids(delivery)
        if kind == "message.created":
            return message_id > floor[0]
        if kind in CHANGE_EVENTS:
            return change > floor[1]
        return True

    def _write(self, event: dict) -> None:
        self.conn.write(text_frame(json.dumps(event, ensure_ascii=False, separators=(",", ":"))))

    # ----- frames from the program -------------------------------------------------------------

    def _on_text(self, text: str) -> None:
        client_id = None
        try:
            try:
                frame = json.loads(text)
            except (ValueError, RecursionError):
                raise ProtocolError("That frame was not JSON.") from None
            if not isinstance(frame, dict):
                raise ProtocolError("A frame must be a JSON object.")
            kind = frame.get("type")
            if kind in ("subscribe", "view"):
                self._subscribe(frame)
            elif kind == "unsubscribe":
                self._check_keys(frame, {"type", "chat"})
                self._unsubscribe(_int(frame, "chat"))
                self._write({"type": "unsubscribed", "chat": _int(frame, "chat")})
            elif kind == "send":
                client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
                self._program_send(frame, client_id)
            elif kind == "typing":
                self._writer_only()
                self._check_keys(frame, TYPING_KEYS)
                self._typing(frame)
            elif kind == "read":
                self._check_keys(frame, READ_KEYS)
                self._read(frame)
            else:
                raise ProtocolError("Unknown frame type: use subscribe, unsubscribe, send, typing or read.")
        except Refused as e:
            self._error(e.code, e.message, e.client_id or client_id)
        except ProtocolError as e:
            code = "not_found" if str(e) == "That chat is not available to you." else "invalid"
            self._error(code, str(e), client_id)
        except ChatError as e:
            db.session.rollback()
            self._error(CODES.get(e.status, "refused"), e.message, client_id, e.retry_after)
        except DBAPIError:
            db.session.rollback()
            log.warning("database.unavailable during program frame")
            self._error("unavailable", "webchat can't reach its database right now; retry in a moment", client_id)
        except Exception:
            log.exception("program frame failed")
            db.session.rollback()
            self._error("internal", "Something went wrong; nothing was half-stored. Try again.", client_id)
        finally:
            db.session.remove()

    def _error(self, code: str, message: str, client_id: str | None, retry_after: int | None = None) -> None:
        event = {"type": "error", "error": {"code": code, "message": message}}
        if retry_after is not None:
            event["error"]["retry_after"] = retry_after
        if client_id is not None and messaging.CLIENT_ID.fullmatch(client_id):
            event["client_id"] = client_id
        self._write(event)

    def _writer_only(self) -> None:
        if not self.can_write:
            raise Refused("read_only_token", READ_ONLY)

    def _subscribe(self, frame: dict) -> None:
        """Catch up on a chat (messages after "after", changes after "changes"), then live."""
        self._check_keys(frame, SUBSCRIBE_KEYS)
        chat_id = _int(frame, "chat")
        after = _int(frame, "after", optional=True)
        cursor = _int(frame, "changes", optional=True)
        self._membership(chat_id)
        if chat_id not in self.chat_ids:  # joined since the last sync
            self._sync_memberships()
        db.session.remove()
        # Subscribed before reading the database: what is published meanwhile waits here, and
        # what the catch-up read too is dropped below.
        self.held[chat_id] = []
        self.hub.subscribe(program_channel(chat_id), self)
        newest, changed = after or 0, cursor or 0
        try:
            with self.budget.turn(self.user_id):
                if after is not None:
                    newest = self._replay_messages(chat_id, after)
                if cursor is not None and not self.conn.closed:
                    changed = self._replay_changes(chat_id, cursor)
        finally:
            held = self.held.pop(chat_id, [])
        if chat_id not in self.chat_ids:  # removed from the chat meanwhile: nothing more of it
            self._unsubscribe(chat_id)
            return
        old = self.floors.get(chat_id, (0, 0))
        self.floors[chat_id] = (max(newest, old[0]), max(changed, old[1]))
        for delivery in held:  # in the order published, without what the catch-up gave
            if self._new(chat_id, delivery):
                self.conn.write(delivery.frame)
        self._write({"type": "caught-up", "chat": chat_id, "after": newest, "changes": changed})

    def _replay_messages(self, chat_id: int, after: int) -> int:
        """message.created for each message after id `after`, page by page; the newest id given."""
        while not self.conn.closed:
            page = messaging.messages_after(chat_id, db.session.get(User, self.user_id), after, REPLAY_PAGE)
            events = program_events.created(page)
            for event in events:
                self.conn.write(text_frame(event))
            if page:
                after = page[-1].id
            if not self._spend(work_budget.cost(messages=len(page), chars=sum(map(len, events))),
                               frames=len(page) / REPLAY_MESSAGES_PER_FRAME) or len(page) < REPLAY_PAGE:
                break
        return after

    def _replay_changes(self, chat_id: int, cursor: int) -> int:
        """The newest version of each message changed after `cursor`, in change order; the newest change given."""
        while not self.conn.closed:
            page = changes.changes_after(chat_id, cursor, changes.CATCH_UP_PAGE)
            events = program_events.changed(page)
            for event in events:
                self.conn.write(text_frame(event))
            if page:
                cursor = page[-1].change_seq
            if not self._spend(work_budget.cost(messages=len(page), chars=sum(map(len, events))),
                               frames=len(page) / REPLAY_MESSAGES_PER_FRAME) or len(page) < changes.CATCH_UP_PAGE:
                break
        return cursor

    def _program_send(self, frame: dict, client_id: str | None) -> None:
        """Store a message through the same queue as pages' sends (idempotent by client id)."""
        self._writer_only()
        self._check_keys(frame, SEND_KEYS)
        chat_id = _int(frame, "chat")
        text = frame.get("text")
        if not isinstance(text, str) or not isinstance(client_id, str):
            raise ProtocolError("A message needs a \"text\" and a \"client_id\" (8 to 64 of A-Z a-z 0-9 _ -).")
        if not messaging.CLIENT_ID.fullmatch(client_id):
            raise ProtocolError("\"client_id\" must be 8 to 64 of A-Z a-z 0-9 _ -.")
        reply_to = _int(frame, "reply_to", optional=True)
        result = self.app.extensions["webchat.send_queue"].send(SendRequest(chat_id, self.user_id, text, client_id,
                                                                            reply_to))
        if result is None:
            raise ProtocolError("That chat is not available to you.")
        message = result.message
        if not result.created:  # a repeat, read in the batch leader's session: read again in ours
            message = db.session.scalar(messaging.with_parts(select(Message)).where(Message.id == message.id))
        self._write({"type": "sent", "client_id": client_id, "created": result.created,
                     "message": program_events.message_json(message)})

    # ----- commands from the control channel ------------------------------------------------------

    def on_control(self, command: str) -> None:
        name, _, arg = command.partition(" ")
        try:
            if name in ("memberships", "left"):
                self._sync_memberships()
            elif name == "session-ended" and arg == self.sid:
                self.conn.close(1008, "token revoked")
            elif name == "credentials-changed":
                user = db.session.get(User, self.user_id)
                if user is None or not user.is_active_account:
                    self.conn.close(1008, "account deactivated")
        finally:
            db.session.remove()
