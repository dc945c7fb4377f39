"""Group commit: socket sends that arrive in one turn of the event loop are checked and stored
together (one transaction, one sequence bump, one insert and one publication per chat).

Invariants: one batch at a time per process; chat rows locked in id order; ids and sequence
numbers follow arrival; each send is refused, answered as a repeat or stored on its own merits;
if storing a batch fails, each message is stored alone, answered as without batching
(docs/architecture.md, "Group commit").
"""
import logging
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

import gevent
from gevent.event import Event

from ..extensions import db
from ..models import Message, utcnow
from ..realtime.event_loop import under_gevent
from . import messaging, notifier, program_events
from .messaging import Draft, SendResult

log = logging.getLogger(__name__)


class OutOfOrder(Exception):
    """The database numbered a batch's messages out of their arrival order (the batch is stored alone)."""


@dataclass(frozen=True)
class SendRequest:
    """A "send" frame as the socket read it: the chat, who sends, the text, the page's client id
    and the message it quotes, if any."""

    chat_id: int
    user_id: int
    body: str
    client_id: str
    reply_to_id: int | None = None


class _Turn:
    """One send waiting in the queue: woken with its outcome, or to lead the next batch."""

    __slots__ = ("request", "result", "error", "leads", "woken")

    def __init__(self, request: SendRequest) -> None:
        self.request = request
        self.result: SendResult | None = None  # None: the sender is not in that chat
        self.error: BaseException | None = None
        self.leads = False
        self.woken = Event()

    def outcome(self) -> SendResult | None:
        if self.error is not None:
            raise self.error
        return self.result


class SendQueue:
    """This process's queue of socket sends waiting to be handled (see the module's notes)."""

    def __init__(self) -> None:
        self._waiting: list[_Turn] = []
        self._storing = False

    def send(self, request: SendRequest) -> SendResult | None:
        """Check, store and announce a message with whatever sends arrive in the same turn: its
        SendResult (a repeat's too), or None if the sender is not in the chat. Raises ChatError
        for a message refused, and the database's errors."""
        # The batch goes through its leader's session: nobody holds a pooled connection (nor, on
        # PostgreSQL, an open transaction) while waiting, and a lone send starts from no
        # transaction (messaging.send_alone). A frame that has not used its session yet (a send,
        # as a rule) has none to close, and asking for one would make it.
        if db.session.registry.has():
            db.session.close()
        turn = _Turn(request)
        if not under_gevent():  # a threaded development server: one at a time
            _serve([turn])
            return turn.outcome()
        self._waiting.append(turn)
        if self._storing:
            try:
                turn.woken.wait()
            except BaseException:
                self._leave(turn)
                raise
            if not turn.leads:
                return turn.outcome()
        self._storing = True
        try:
            gevent.sleep(0)  # the sends that arrived in this turn join the batch
            batch, self._waiting = self._waiting, []
            _serve(batch)
        finally:
            self._hand_on()
        return turn.outcome()

    def _hand_on(self) -> None:
        """The batch is done: the first send that arrived meanwhile leads the next."""
        if self._waiting:
            self._waiting[0].leads = True
            self._waiting[0].woken.set()
        else:
            self._storing = False

    def _leave(self, turn: _Turn) -> None:
        """A waiting sender's greenlet ended: drop its send, and hand on the lead if it had it."""
        if turn in self._waiting:
            self._waiting.remove(turn)
        if turn.leads:
            self._hand_on()


def _serve(batch: list[_Turn]) -> None:
    """Give every turn its outcome: look up the senders, draft each message, store the drafts."""
    if len(batch) == 1:  # alone: none of a batch's machinery
        _serve_alone(batch[0])
        return
    done = False
    try:
        drafted: list[tuple[_Turn, Draft]] = []
        requests = [turn.request for turn in batch]
        try:
            # One indexed query each on the driver's cursor: cheaper than IN lists, compiled anew each time.
            senders = [messaging.sender_in(r.chat_id, r.user_id, r.client_id) for r in requests]
        except Exception as e:  # noqa: BLE001 - the database is away: every send hears so
            db.session.rollback()
            for turn in batch:
                turn.error = e
            done = True
            return
        for turn, sender in zip(batch, senders, strict=True):
            if sender is None:
                continue  # not in that chat: result None
            try:
                draft = messaging.draft_message(sender, turn.request.body, turn.request.client_id,
                                                reply_to_id=turn.request.reply_to_id)
            except Exception as e:  # noqa: BLE001 - refused (ChatError) or failed: that send alone
                db.session.rollback()
                turn.error = e
                continue
            if isinstance(draft, SendResult):
                turn.result = draft  # a repeat: answered with the message stored under its id
            else:
                drafted.append((turn, draft))
        _store(drafted)
        done = True
    finally:
        for turn in batch:
            if not done and turn.result is None and turn.error is None:
                turn.error = RuntimeError("the send was interrupted")  # the leader was killed midway
            turn.woken.set()


def _serve_alone(turn: _Turn) -> None:
    request = turn.request
    try:
        turn.result = messaging.send_alone(request.chat_id, request.user_id, request.body, request.client_id,
                                           request.reply_to_id)
    except Exception as e:  # noqa: BLE001 - refused (ChatError) or failed: handed to its sender
        db.session.rollback()
        turn.error = e
    except BaseException:
        turn.error = RuntimeError("the send was interrupted")
        raise
    finally:
        turn.woken.set()


def _store(drafted: list[tuple["_Turn", Draft]]) -> None:
    """Store the drafts together (alone if there is one, or if storing them together fails)."""
    stored = None
    if len(drafted) > 1:
        try:
            stored = _store_together([draft for _turn, draft in drafted])
        except Exception as e:  # noqa: BLE001 - each is stored alone below, and fails alone
            db.session.rollback()
            log.warning("group_commit.fell_back sends=%d error=%s", len(drafted), type(e).__name__)
    if stored is not None:
        _announce(*stored)
    for index, (turn, draft) in enumerate(drafted):
        try:
            turn.result = stored[0][index] if stored else messaging.store_draft(draft)
        except Exception as e:  # noqa: BLE001 - handed to its sender, which answers its page
            db.session.rollback()
            turn.error = e


def store_drafts(drafts: list[Draft]) -> list[SendResult]:
    """Store several messages in one transaction, commit, and announce each chat's once."""
    results, frames = _store_together(drafts)
    _announce(results, frames)
    return results


def _announce(results: list[SendResult], frames: dict[int, str]) -> None:
    """After the commit: each chat's new messages, in one frame, to its channel."""
    # One line per chat and batch (ids and lengths in order), not one per message: formatting
    # and writing a line is a share of a message's CPU that a closed loop notices.
    stored: dict[int, list[Message]] = defaultdict(list)
    for result in results:
        stored[result.message.chat_id].append(result.message)
    for chat_id, messages in stored.items():
        log.info("message.stored chat=%d id=%s chars=%s", chat_id, ",".join(str(m.id) for m in messages),
                 ",".join(str(len(m.body)) for m in messages))
    for chat_id, frame in frames.items():
        program_events.publish(chat_id, frame, lambda messages=stored[chat_id]: program_events.created(messages))
    notifier.wake()


def _store_together(drafts: list[Draft]) -> tuple[list[SendResult], dict[int, str]]:
    """Store several messages in one transaction and commit; their results, and each chat's frame."""
    connection = db.session.connection()
    now = utcnow()
    by_chat: dict[int, list[int]] = defaultdict(list)  # chat id: indexes into drafts
    for index, draft in enumerate(drafts):
        by_chat[draft.membership.chat_id].append(index)
    order, rows = [], []
    for chat_id in sorted(by_chat):  # chat rows locked in one order by every batch
        indexes = by_chat[chat_id]
        last_seq = messaging.NEXT_SEQ.rows(connection, {"chat": chat_id, "now": now, "count": len(indexes)})[0][0]
        for seq, index in enumerate(indexes, start=last_seq - len(indexes) + 1):
            order.append(index)
            draft = drafts[index]
            rows.append(messaging.message_row(chat_id, seq, now, draft.membership.user, **draft.fields()))
    ids = messaging.insert_messages(connection, rows)
    messages: list[Message | None] = [None] * len(drafts)
    for index, values in zip(order, rows, strict=True):
        message_id = ids[values["chat_id"], values["seq"]]
        messages[index] = messaging.detached_message(message_id, values, drafts[index].membership.user)
    for indexes in by_chat.values():  # "messages after id N" must never skip one
        if any(messages[a].id > messages[b].id for a, b in pairwise(indexes)):
            raise OutOfOrder()
    mentions = [{"message_id": message.id, "user_id": user_id, "chat_id": message.chat_id}
                for draft, message in zip(drafts, messages, strict=True)
                for user_id in draft.mentioned_ids if user_id != message.author_id]
    if mentions:
        connection.execute(messaging.ADD_MENTION, mentions)
    # Each message rendered once; each sender's confirmation wraps its own, each chat's frame all of its.
    articles = [messaging.render_article(message) for message in messages]
    frames = {chat_id: messaging.frame_articles("".join(articles[i] for i in indexes))
              for chat_id, indexes in by_chat.items()}
    results = [SendResult(message, created=True, fragment=messaging.frame_articles(article))
               for message, article in zip(messages, articles, strict=True)]
    db.session.commit()
    return results, frames
