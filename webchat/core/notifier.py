"""The notifier: sends the notifications core/notifications.py decides, off the send path, each once.

Storing a message queues it (a trigger writes its id to notification_queue, migration 0015): the
send path waits on nothing here and only wakes this process's notifier (wake(): an event set).
Every worker runs one notifier (a greenlet), woken by its own sends; every NOTIFIER_POLL_SECONDS
it also reads whether anything else is queued or due (look()). A round:
  1. take queued messages (FOR UPDATE SKIP LOCKED: each by one worker), decide who gets what and
     write those rows (plan), and delete the queue rows, in one transaction;
  2. claim the rows due (a lease: state "sending" until claimed_until, again FOR UPDATE SKIP
     LOCKED and a conditional UPDATE, so two workers never claim one row), commit, send them
     by their way's sender, and mark each sent, due again later (backoff), or failed.
A worker that dies while sending leaves rows whose lease runs out; another worker sends them
then. A restart finds what was queued or due in the database and sends it.

Senders (_senders(), by way) take claimed rows and answer each row's outcome: SENT, RETRY,
FAILED, or DROPPED (no longer worth sending: read meanwhile, message deleted, no device left).
They run with a request context on BASE_URL, so url_for and templates work.
"""
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple

from flask import current_app, render_template
from sqlalchemy import and_, delete, func, or_, select, update

from ..extensions import db
from ..models import Message, Notification, NotificationQueue, utcnow
from ..realtime.hub import user_channel
from . import notifications
from .broadcasts import current_hub

# The outcomes and notices() live with the rule, so the senders (push, mail) need not import the notifier.
from .notifications import DROPPED, FAILED, RETRY, SENT, notices  # noqa: F401 - the senders' names too

log = logging.getLogger(__name__)

QUEUE_BATCH = 100  # messages decided per transaction
SEND_BATCH = 200  # notifications claimed at a time
LEASE = timedelta(minutes=2)  # a claim outlives its worker this long
MAX_ATTEMPTS = 8  # 5 s, 10 s, 20 s … about 20 minutes of retries, then failed
KEEP_SENT = timedelta(days=1)  # sent and failed rows are kept this long (folding looks back at them)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** (attempts - 1), 3600))


def _senders() -> dict[str, Callable[[list[Notification]], dict[int, str]]]:
    from . import mail, push
    # Ways whose senders import messaging (webhooks post replies) register themselves at start
    # (core/webhooks.py: init_app): imported from here they would make an import cycle.
    return {"desktop": send_desktop, "push": push.send_notifications, "email": mail.send_notifications,
            **current_app.extensions.get("webchat.notify_senders", {})}


def take_queued(planned_kinds: set[str] | None = None) -> int:
    """Decide the notifications of the oldest queued messages; how many messages were taken.
    planned_kinds, if given, gets the ways (desktop, push, …) of the notifications decided.

    Reads and decides first, writes last: deciding asks the live state (Redis: network I/O, a
    greenlet switch), and SQLite's write lock must not be held across it, or every other request
    of the worker waits on it. The DELETE … RETURNING says which queued messages are still ours
    (on PostgreSQL, FOR UPDATE SKIP LOCKED has kept other workers off them meanwhile)."""
    now = utcnow()
    ids = list(db.session.scalars(select(NotificationQueue.message_id).order_by(NotificationQueue.message_id)
                                  .limit(QUEUE_BATCH).with_for_update(skip_locked=True)))
    if not ids:
        db.session.commit()
        return 0
    messages = db.session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)).all()
    known = notifications.Round(ids)
    decided = [(message, notifications.decide(message, now, known)) for message in messages]
    taken = set(db.session.scalars(delete(NotificationQueue).where(NotificationQueue.message_id.in_(ids))
                                   .returning(NotificationQueue.message_id)))
    for message, planned in decided:
        if message.id in taken:
            notifications.plan(message, planned, now)
            if planned_kinds is not None:
                planned_kinds.update(p.kind for p in planned)
    db.session.commit()
    return len(ids)


def _claimable(now):
    """Due now: never claimed and due, or claimed by a worker whose lease ran out."""
    return or_(and_(Notification.state == "due", Notification.due_at <= now),
               and_(Notification.state == "sending", Notification.claimed_until < now))


class Outlook(NamedTuple):
    """What a poll finds to do (look()): the oldest and newest queued message, the ways with
    notifications due."""
    oldest_queued: int | None
    newest_queued: int | None
    ways_due: set[str]


def look() -> Outlook:
    """One read, no lock and no write: whether anything is queued, and which ways have
    notifications due. Polls ask this first: most find nothing, and claiming (a locking UPDATE
    and a commit per way) or taking the queue on every poll of every worker was most of what an
    idle worker did, times the number of workers."""
    now = utcnow()
    due = [select(Notification.id).where(Notification.kind == way, _claimable(now)).exists()
           for way in notifications.WAYS]
    oldest, newest, *flags = db.session.execute(
        select(select(func.min(NotificationQueue.message_id)).scalar_subquery(),
               select(func.max(NotificationQueue.message_id)).scalar_subquery(), *due)).one()
    return Outlook(oldest, newest, {way for way, flag in zip(notifications.WAYS, flags, strict=True) if flag})


def claim(kinds: tuple[str, ...] = notifications.WAYS) -> list[Notification]:
    """Claim the notifications of these ways that are due (and, for each person with an e-mail
    due, their other e-mails waiting: one e-mail for several); committed, so no other worker
    takes them."""
    now = utcnow()
    claimable = and_(Notification.kind.in_(kinds), _claimable(now))
    due = (select(Notification.id).where(claimable).order_by(Notification.due_at).limit(SEND_BATCH)
           .with_for_update(skip_locked=True))
    ids = list(db.session.scalars(_claim(due.scalar_subquery(), claimable, now)))
    emailed = set(db.session.scalars(select(Notification.user_id).where(Notification.id.in_(ids),
                                                                        Notification.kind == "email")))
    if emailed:
        waiting = and_(Notification.kind == "email", Notification.state == "due")
        more = (select(Notification.id).where(waiting, Notification.user_id.in_(emailed))
                .with_for_update(skip_locked=True))
        ids += db.session.scalars(_claim(more.scalar_subquery(), waiting, now))
    db.session.commit()
    if not ids:
        return []
    return list(db.session.scalars(select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)))


def _claim(ids, condition, now):
    return (update(Notification).where(Notification.id.in_(ids), condition)
            .values(state="sending", claimed_until=now + LEASE, sent_at=now, attempts=Notification.attempts + 1)
            .returning(Notification.id))


def settle(rows: list[Notification], outcomes: dict[int, str]) -> None:
    """Record each claimed row's outcome: sent; due again after a backoff (folded into a newer row
    of its chat that is due, if one came meanwhile); failed after MAX_ATTEMPTS."""
    now = utcnow()
    for row in rows:
        outcome = outcomes.get(row.id, RETRY)
        if outcome == RETRY and row.attempts >= MAX_ATTEMPTS:
            outcome = FAILED
        if outcome == RETRY and row.folds:  # one folding row due per chat: a newer one takes this one in
            folded = db.session.execute(
                update(Notification).where(Notification.user_id == row.user_id, Notification.kind == row.kind,
                                           Notification.chat_id == row.chat_id, Notification.state == "due",
                                           Notification.folds)
                .values(count=Notification.count + row.count)).rowcount
            if folded:
                outcome = "folded"
        if outcome == RETRY:
            row.state, row.due_at, row.sent_at, row.claimed_until = "due", now + backoff(row.attempts), None, None
        else:
            row.state, row.claimed_until = outcome, None
            if outcome in (FAILED, "folded"):
                log.warning("notification.%s kind=%s user=%d chat=%d attempts=%d", outcome, row.kind, row.user_id,
                            row.chat_id, row.attempts)
    db.session.commit()


def send_due(kinds: tuple[str, ...] = notifications.WAYS) -> int:
    """Claim what is due of these ways, send it, and record the outcomes; how many were claimed."""
    rows = claim(kinds)
    if not rows:
        return 0
    outcomes: dict[int, str] = {}
    senders = _senders()
    for kind in notifications.WAYS:
        mine = [row for row in rows if row.kind == kind]
        if not mine:
            continue
        if kind not in senders:  # a way this app has not set up: its rows are due again later
            continue
        try:
            outcomes.update(senders[kind](mine))
        except Exception:  # one way failing (a bug, a server away) must not hold up the others
            log.exception("notification.sender_failed kind=%s rows=%d", kind, len(mine))
            db.session.rollback()
    settle(rows, outcomes)
    return len(rows)


def prune() -> None:
    """Forget sent and failed notifications older than KEEP_SENT."""
    db.session.execute(delete(Notification).where(Notification.state.in_((SENT, FAILED, DROPPED, "folded")),
                                                  Notification.due_at < utcnow() - KEEP_SENT))
    db.session.commit()


def run_once() -> int:
    """One round: everything queued decided, everything due sent; how many notifications were
    claimed. (The background loop calls it; so do tests, to drive it by hand.)"""
    while take_queued():
        pass
    return send_all_due()


def send_all_due(kinds: tuple[str, ...] = notifications.WAYS) -> int:
    claimed = 0
    while True:
        sent = send_due(kinds)
        claimed += sent
        if sent < SEND_BATCH:
            return claimed


# ----- desktop notifications: a notice to the person's open tabs ---------------------------------

def send_desktop(rows: list[Notification]) -> dict[int, str]:
    """Publish each notice to its person's own channel (static/notify.js shows it); never fails
    but for the hub, which the next round retries."""
    hub = current_hub()
    outcomes = {}
    for row, notice in notices(rows):
        hub.publish(user_channel(row.user_id), render_template("notifications/_notice.html", notice=notice,
                                                               reason=row.reason))
        outcomes[row.id] = SENT
    return outcomes


# ----- the loop ----------------------------------------------------------------------------------

class Notifier:
    """This process's notifier (NOTIFIER "auto", under gevent; elsewhere tests call run_once()).

    One greenlet per lane, so that a slow push service, SMTP server or webhook receiver holds up
    only its own way. The first lane decides what was queued and sends desktop notices: woken by
    each send of this process, after NOTIFIER_GATHER_SECONDS, so that a busy chat's sends of that
    moment are decided in one round (notifications.Round reads each chat's members once); then it
    wakes the push, e-mail and webhook lanes it decided something for. A send whose readers all
    have its chat in view decides nothing: its round is one take of the queue, no claim.

    Every NOTIFIER_POLL_SECONDS the first lane also looks (look(): one read) for what no send
    woke anyone for: retries, folds and e-mails come due, and it wakes the lanes of the ways due.
    Queued messages are each stored by a worker that decides them itself a moment later, so a
    poll leaves them to it, and takes only those queued already at its previous poll (their
    worker died, or their process runs no notifier): with several workers, every worker's poll
    taking the others' messages made a round each, each reading the chat again."""

    LANES = (("desktop",), ("push",), ("email",), ("webhook",))

    def __init__(self, app) -> None:
        self.app = app
        self._events: dict = {}
        self._greenlets: list = []
        self._queued_at_last_poll: int | None = None  # the newest message queued then
        self._polls = 0

    def start(self) -> None:
        if self.app.config["NOTIFIER"] != "auto":
            return
        from gevent import monkey
        if not monkey.is_module_patched("socket"):
            return
        import gevent
        from gevent.event import Event
        self._events = {lane: Event() for lane in self.LANES}
        self._greenlets = [gevent.spawn(self._run, lane) for lane in self.LANES]

    def wake(self) -> None:
        """Called after a message's commit: decide now rather than at the next poll."""
        event = self._events.get(self.LANES[0])
        if event is not None:
            event.set()

    def _run(self, lane: tuple[str, ...]) -> None:
        import gevent
        interval = self.app.config["NOTIFIER_POLL_SECONDS"]
        gather = self.app.config["NOTIFIER_GATHER_SECONDS"]
        deciding = lane == self.LANES[0]
        next_poll = time.monotonic() + interval
        while True:
            # The other lanes wait for the first to find them something (a send decided, a poll).
            woken = self._events[lane].wait(max(0.0, next_poll - time.monotonic()) if deciding else None)
            if deciding and woken and gather:
                gevent.sleep(gather)  # the sends of the next moment too: one round decides them all
            self._events[lane].clear()
            try:
                if not deciding:
                    with self.app.test_request_context(base_url=self.app.config["BASE_URL"]):
                        try:
                            send_all_due(lane)
                        finally:
                            db.session.remove()
                    continue
                # By the clock, not only when no send came: a busy worker is woken all the time.
                polling = time.monotonic() >= next_poll
                if polling:
                    next_poll = time.monotonic() + interval
                self._decide(woken, polling)
            except Exception:
                log.exception("notifier.round_failed lane=%s", lane[0])
                gevent.sleep(interval)

    def _decide(self, woken: bool, polling: bool) -> None:
        """The first lane's round: take the queue when woken by a send of this process, or when
        a poll finds messages left there since the previous poll; send the desktop notices due;
        wake the lanes of the ways decided or due."""
        take, desktop = woken, False
        if polling:
            with self.app.app_context():
                try:
                    outlook = look()
                    self._polls += 1
                    if self._polls % 600 == 0:
                        prune()
                finally:
                    db.session.remove()
            self._wake_lanes(outlook.ways_due)
            last, self._queued_at_last_poll = self._queued_at_last_poll, outlook.newest_queued
            take = take or (outlook.oldest_queued is not None and last is not None and outlook.oldest_queued <= last)
            desktop = "desktop" in outlook.ways_due
        if not (take or desktop):
            return
        with self.app.test_request_context(base_url=self.app.config["BASE_URL"]):
            try:
                planned: set[str] = set()
                # Fewer than a batch: the queue is empty (a send after this take wakes us again).
                while take and take_queued(planned) == QUEUE_BATCH:
                    pass
                if desktop or "desktop" in planned:
                    send_all_due(self.LANES[0])
                self._wake_lanes(planned)
            finally:
                db.session.remove()

    def _wake_lanes(self, ways: set[str]) -> None:
        for other in self.LANES[1:]:
            if ways.intersection(other):
                self._events[other].set()


def wake() -> None:
    notifier = current_app.extensions.get("webchat.notifier")
    if notifier is not None:
        notifier.wake()
