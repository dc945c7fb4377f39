"""The hub and the live state shared by every worker and host, through Redis.

Redis only rings the bell: pub/sub is at-most-once, so after any reconnect every local socket
is asked to resync, and its page catches up from the database (the source of truth).
"""
import contextlib
import functools
import logging
import random
import time
import uuid

import gevent
import gevent.event
import gevent.lock
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .hub import Delivery, InProcessHub
from .live_state import TAB_LEASE_SECONDS, TYPING_SECONDS, chat_of

log = logging.getLogger(__name__)

PREFIX = "webchat:"
RESYNC = "<template data-resync></template>"  # connection.js answers it with a fresh "view"
SUBSCRIBE_WAIT_SECONDS = 5  # at most this long for Redis to confirm a subscription (it takes a round trip)
LIVE_STATE_BATCH = 1000  # users' presence or views read per script call (each holds Redis meanwhile)
SUBSCRIBE_BATCH = 1000  # channels per SUBSCRIBE when (re)subscribing all of a process's


POOL_CONNECTIONS = 100  # per process; more greenlets at once wait their turn (POOL_WAIT_SECONDS)
POOL_WAIT_SECONDS = 5


def connect(url: str) -> redis.Redis:
    # No silent retries: a dropped connection must reach us, so we know to resync. A blocking pool:
    # when a reconnect storm's sockets all open or close at once, the plain pool raised on the
    # 101st greenlet (their presence then lingered until its lease ran out); these wait instead.
    retry = Retry(NoBackoff(), 0)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS,
                                                 retry=retry, socket_connect_timeout=2, health_check_interval=30)
    return redis.Redis(connection_pool=pool, retry=retry)


class RedisHub:
    """Delivers locally at once and publishes to Redis for the other processes. One listener
    connection per process is subscribed to exactly the channels something here listens to, so a
    process takes only the publications it has sockets for (skipping its own by host id)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.host_id = uuid.uuid4().hex[:12]
        self._own = f"{self.host_id}\n".encode()
        self.local = InProcessHub()
        self.redis = connect(url)
        self._listener = None
        self.reconnects = 0
        # The listener's connection while it is up. Under _sending, and only on this connection:
        # the channels SUBSCRIBEd (not UNSUBSCRIBEd since), SUBSCRIBEs sent and confirmed per
        # channel (Redis answers in order), and who waits for which confirmation.
        self._connection = None
        self._sending = gevent.lock.Semaphore()
        self._subscribed: set[str] = set()
        self._sent: dict[str, int] = {}
        self._confirmed: dict[str, int] = {}
        self._waiting: dict[str, list[tuple[int, gevent.event.Event]]] = {}
        self._first_attempt = gevent.event.Event()

    def publish(self, channel: str, payload: str) -> None:
        self.local.publish(channel, payload)
        try:
            self.redis.publish(PREFIX + channel, f"{self.host_id}\n{payload}")
        except redis.RedisError as e:
            # Other processes miss this one; their pages catch up when Redis is back (resync).
            log.warning("hub.publish_failed channel=%s error=%s", channel, type(e).__name__)

    def publish_many(self, publications: list[tuple[str, str]]) -> None:
        """Deliver locally, then publish them all to Redis in one round trip, in order."""
        for channel, payload in publications:
            self.local.publish(channel, payload)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for channel, payload in publications:
                pipe.publish(PREFIX + channel, f"{self.host_id}\n{payload}")
            pipe.execute()
        except redis.RedisError as e:
            log.warning("hub.publish_failed channels=%d error=%s", len(publications), type(e).__name__)

    def listened(self, channel: str) -> bool:
        """Always: another process may have subscribers, and asking Redis per publication would
        cost every publication a round trip (docs/architecture.md, "The socket for programs")."""
        return True

    def subscribe(self, channel: str, connection) -> None:
        """Returns once Redis has confirmed this process's subscription to the channel (or the
        listener is away: its reconnect asks every socket to resync). A socket reads the database
        after subscribing (its replay), so whatever Redis sent before is in what it reads."""
        if self._listener is None or self._listener.dead:
            self._listener = gevent.spawn(self._listen)
        self.local.subscribe(channel, connection)
        if self._connection is None and not self._first_attempt.is_set():
            # Connecting for the first time: it subscribes to every local channel, this one too.
            self._first_attempt.wait(SUBSCRIBE_WAIT_SECONDS)
        with self._sending:
            ticket = self._follow_local(channel)
            if ticket is None or self._confirmed.get(channel, 0) >= ticket:
                return
            confirmed = gevent.event.Event()
            self._waiting.setdefault(channel, []).append((ticket, confirmed))
        if not confirmed.wait(SUBSCRIBE_WAIT_SECONDS):
            log.warning("hub.subscribe_unconfirmed channel=%s", channel)

    def unsubscribe(self, channel: str, connection) -> None:
        self.local.unsubscribe(channel, connection)
        with self._sending:
            self._follow_local(channel)

    def _follow_local(self, channel: str) -> int | None:
        """Under _sending: SUBSCRIBE or UNSUBSCRIBE the listener's connection so it is subscribed
        to the channel exactly while something here is; the SUBSCRIBE to wait for, if any.
        Deciding from the local state now (not from who came first) keeps it right whatever
        order concurrent subscribers and unsubscribers get here in."""
        connection = self._connection
        if connection is None:
            return None
        wanted = self.local.listened(channel)
        try:
            if wanted and channel not in self._subscribed:
                connection.send_command("SUBSCRIBE", PREFIX + channel, check_health=False)
                self._subscribed.add(channel)
                self._sent[channel] = self._sent.get(channel, 0) + 1
            elif not wanted and channel in self._subscribed:
                connection.send_command("UNSUBSCRIBE", PREFIX + channel, check_health=False)
                self._subscribed.discard(channel)
        except (redis.RedisError, OSError) as e:
            # The listener finds the connection broken too, reconnects and resyncs everyone.
            log.warning("hub.subscription_failed channel=%s error=%s", channel, type(e).__name__)
            return None
        return self._sent.get(channel) if wanted else None

    def _listen(self) -> None:
        """Take publications from Redis forever; back off 1 s doubling to 60 s while it is away."""
        backoff, first = 1.0, True
        while True:
            connection = None
            try:
                connection = self._listener_connection()
                connection.connect()
                with self._sending:
                    self._connection = connection
                    channels = self.local.channels()
                    for start in range(0, len(channels), SUBSCRIBE_BATCH):
                        batch = channels[start:start + SUBSCRIBE_BATCH]
                        connection.send_command("SUBSCRIBE", *(PREFIX + c for c in batch), check_health=False)
                    self._subscribed = set(channels)
                    self._sent = dict.fromkeys(channels, 1)
                    self._confirmed = {}
                self._first_attempt.set()
                if not first:
                    self.reconnects += 1
                    log.info("hub.redis_reconnected resyncing=%d", len(self.local.connections()))
                    self._resync_all()
                first, backoff = False, 1.0
                while True:
                    self._take(connection.read_response())
            except (redis.RedisError, OSError) as e:
                log.warning("hub.redis_lost error=%s retry_in<=%.0fs", type(e).__name__, backoff)
                first = False
                self._lost()
                self._first_attempt.set()
                gevent.sleep(random.uniform(0, backoff))
                backoff = min(backoff * 2, 60.0)
            finally:
                self._lost()
                if connection is not None:
                    with contextlib.suppress(redis.RedisError, OSError):
                        connection.disconnect()

    def _listener_connection(self) -> redis.Connection:
        # RESP2, so publications come as plain replies; no read timeout: it waits for them.
        return redis.ConnectionPool.from_url(self.url, protocol=2, socket_connect_timeout=2,
                                             socket_timeout=None).make_connection()

    def _take(self, reply) -> None:
        if type(reply) is not list or len(reply) != 3:
            return  # nothing else is asked on this connection
        kind, channel, data = reply
        if kind == b"message":
            if data.startswith(self._own):
                return  # delivered locally when published
            self.local.publish(channel[len(PREFIX):].decode(), data[len(self._own):].decode())
        elif kind == b"subscribe":
            channel = channel.decode()[len(PREFIX):]
            confirmed = self._confirmed[channel] = self._confirmed.get(channel, 0) + 1
            waiting = self._waiting.get(channel)
            if waiting:
                still = [(ticket, event) for ticket, event in waiting if ticket > confirmed]
                for ticket, event in waiting:
                    if ticket <= confirmed:
                        event.set()
                if still:
                    self._waiting[channel] = still
                else:
                    del self._waiting[channel]

    def _lost(self) -> None:
        """The listener's connection is gone: nothing on it is subscribed any more, and whoever
        waits for a confirmation goes on (the reconnect resyncs every socket)."""
        with self._sending:
            self._connection = None
            self._subscribed, self._sent, self._confirmed = set(), {}, {}
            waiting, self._waiting = self._waiting, {}
        for entries in waiting.values():
            for _, event in entries:
                event.set()

    def _resync_all(self) -> None:
        delivery = Delivery("resync", RESYNC)
        for connection in self.local.connections():
            connection.deliver(delivery)


def _or_nothing_known(default):
    """While Redis is away, answer as if nothing were known (nobody online or typing) instead of
    raising: this state is never the source of truth, and a send or a page must not fail for it."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except redis.RedisError as e:
                log.warning("live_state.redis_unavailable op=%s error=%s", method.__name__, type(e).__name__)
                return default() if callable(default) else default
        return guarded
    return wrap


class RedisLiveState:
    """Presence leases, typing and throttles in Redis, with expiry, shared by all workers."""

    shared = True  # several workers and hosts count together (core/work_budget.py settles in batches)

    def __init__(self, url: str) -> None:
        self.redis = connect(url)
        self._scripts = {}

    @_or_nothing_known(False)
    def tab_opened(self, user_id, tab_id):
        key, now = f"{PREFIX}tabs:{user_id}", time.time()
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        pipe.zadd(key, {tab_id: now + TAB_LEASE_SECONDS})
        pipe.expire(key, TAB_LEASE_SECONDS * 2)
        _, before, *_ = pipe.execute()
        return before == 0

    @_or_nothing_known(False)
    def tab_alive(self, user_id, tab_id):
        """Renew the lease; True when the user had no live tab (Redis lost its state meanwhile)."""
        key, now = f"{PREFIX}tabs:{user_id}", time.time()
        pipe = self.redis.pipeline()
        pipe.zcount(key, now, "+inf")
        pipe.zadd(key, {tab_id: now + TAB_LEASE_SECONDS})
        pipe.expire(key, TAB_LEASE_SECONDS * 2)
        live, *_ = pipe.execute()
        return live == 0

    @_or_nothing_known(None)
    def tab_closed(self, user_id, tab_id):
        pipe = self.redis.pipeline()
        pipe.zrem(f"{PREFIX}tabs:{user_id}", tab_id)
        pipe.hget(f"{PREFIX}views:{user_id}", tab_id)
        pipe.hdel(f"{PREFIX}views:{user_id}", tab_id)
        _, was, _ = pipe.execute()
        self._unindex(user_id, tab_id, was)

    # A user's views: one hash, tab -> "<lease end> <place>"; lapsed entries are skipped on reading.
    # And each chat's viewers the other way round (viewers()): one hash per chat, "<user> <tab>" ->
    # "<lease end> <place>", kept beside it: a tab's entry moves when its view moves to another chat.
    @_or_nothing_known(None)
    def set_view(self, user_id, tab_id, place):
        key, chat = f"{PREFIX}views:{user_id}", chat_of(place)
        pipe = self.redis.pipeline()
        pipe.hget(key, tab_id)
        if place is None:
            pipe.hdel(key, tab_id)
        else:
            value = f"{time.time() + TAB_LEASE_SECONDS} {place}"
            pipe.hset(key, tab_id, value)
            pipe.expire(key, TAB_LEASE_SECONDS * 2)
            if chat is not None:
                pipe.hset(f"{PREFIX}viewing:{chat}", f"{user_id} {tab_id}", value)
                pipe.expire(f"{PREFIX}viewing:{chat}", TAB_LEASE_SECONDS * 2)
        was = pipe.execute()[0]
        if was is not None and chat_of(was.decode().partition(" ")[2]) != chat:
            self._unindex(user_id, tab_id, was)

    def _unindex(self, user_id, tab_id, was: bytes | None) -> None:
        """Take a tab's entry out of the viewers of the chat it showed (was: its views value)."""
        chat = chat_of(was.decode().partition(" ")[2]) if was is not None else None
        if chat is not None:
            self.redis.hdel(f"{PREFIX}viewing:{chat}", f"{user_id} {tab_id}")

    @_or_nothing_known(dict)
    def viewers(self, chat_id):
        key, now = f"{PREFIX}viewing:{chat_id}", time.time()
        answer: dict[int, set[str]] = {}
        lapsed = []
        for field, value in self.redis.hgetall(key).items():
            until, _, place = value.decode().partition(" ")
            if float(until) > now:
                user_id = int(field.partition(b" ")[0])
                if user_id in answer:
                    answer[user_id].add(place)
                else:
                    answer[user_id] = {place}
            else:
                lapsed.append(field)  # a tab whose worker died: its entry goes with the first reading after
        if lapsed:
            self.redis.hdel(key, *lapsed)
        return answer

    # Many users' state in one command per LIVE_STATE_BATCH users: pipelined, each user's read
    # was a command for redis-py to pack in Python, costlier than Redis's work on it.
    _VIEWS = """
    local out = {}
    for i, key in ipairs(KEYS) do
      local values = redis.call('HVALS', key)
      if #values > 0 then out[#out + 1] = i; out[#out + 1] = values end
    end
    return out
    """
    _ONLINE = """
    local out = {}
    for i, key in ipairs(KEYS) do
      if redis.call('ZCOUNT', key, ARGV[1], '+inf') > 0 then out[#out + 1] = i end
    end
    return out
    """

    def _script(self, source: str):
        if source not in self._scripts:
            self._scripts[source] = self.redis.register_script(source)
        return self._scripts[source]

    @_or_nothing_known(dict)
    def views(self, user_ids):
        user_ids = list(user_ids)
        now = time.time()
        answer = {}
        views = self._script(self._VIEWS)
        for start in range(0, len(user_ids), LIVE_STATE_BATCH):
            batch = user_ids[start:start + LIVE_STATE_BATCH]
            found = views(keys=[f"{PREFIX}views:{user_id}" for user_id in batch])
            for index, values in zip(found[::2], found[1::2], strict=True):
                places = set()
                for value in values:
                    until, _, place = value.decode().partition(" ")
                    if float(until) > now:
                        places.add(place)
                if places:
                    answer[batch[index - 1]] = places
        return answer

    @_or_nothing_known(set)
    def online(self, user_ids):
        user_ids = list(user_ids)
        now = time.time()
        answer = set()
        online = self._script(self._ONLINE)
        for start in range(0, len(user_ids), LIVE_STATE_BATCH):
            batch = user_ids[start:start + LIVE_STATE_BATCH]
            answer.update(batch[index - 1] for index in online(keys=[f"{PREFIX}tabs:{user_id}" for user_id in batch],
                                                               args=[now]))
        return answer

    @_or_nothing_known(None)
    def start_typing(self, chat_id, who):
        key = f"{PREFIX}typing:{chat_id}"
        pipe = self.redis.pipeline()
        pipe.zadd(key, {who: time.time() + TYPING_SECONDS})
        pipe.expire(key, TYPING_SECONDS * 2)
        pipe.execute()

    @_or_nothing_known(False)
    def stop_typing(self, chat_id, who):
        return bool(self.redis.zrem(f"{PREFIX}typing:{chat_id}", who))

    @_or_nothing_known(list)
    def typists(self, chat_id):
        members = self.redis.zrangebyscore(f"{PREFIX}typing:{chat_id}", time.time(), "+inf")
        return sorted(m.decode() for m in members)

    @_or_nothing_known(False)
    def allow(self, key, seconds):
        return bool(self.redis.set(f"{PREFIX}throttle:{key}", 1, nx=True, px=int(seconds * 1000)))

    # spend_work's bucket (live_state.WorkLedger) in one round trip: the moment the budget is
    # whole again, on Redis's clock so every host agrees, expiring once it is.
    _SPEND_WORK = """
    local now = redis.call('TIME')
    now = tonumber(now[1]) + tonumber(now[2]) / 1000000
    local cost, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local whole_at = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now) + cost / rate
    redis.call('SET', KEYS[1], tostring(whole_at), 'PX', math.ceil((whole_at - now) * 1000) + 1)
    return tostring(math.max(0, whole_at - now - burst / rate))
    """

    @_or_nothing_known(0.0)
    def spend_work(self, key, cost, rate, burst):
        return float(self._script(self._SPEND_WORK)(keys=[f"{PREFIX}work:{key}"], args=[cost, rate, burst]))

    @_or_nothing_known(0.0)
    def spend(self, key, budget, seconds, amount=1):
        """A fixed window: the first use creates the counter with its expiry, INCRBY keeps it."""
        key = f"{PREFIX}budget:{key}"
        pipe = self.redis.pipeline()  # MULTI/EXEC: no other worker's use lands between the three
        pipe.set(key, 0, nx=True, px=int(seconds * 1000))
        pipe.incrby(key, amount)
        pipe.pttl(key)
        _, used, ttl_ms = pipe.execute()
        return 0.0 if used <= budget else max(ttl_ms, 1) / 1000
