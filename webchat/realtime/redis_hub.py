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
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .hub import Delivery, InProcessHub
from .live_state import TAB_LEASE_SECONDS, TYPING_SECONDS, chat_of

log = logging.getLogger(__name__)

PREFIX = "webchat:"
RESYNC = "<template data-resync></template>"  # connection.js answers it with a fresh "view"


def connect(url: str) -> redis.Redis:
    # No silent retries: a dropped connection must reach us, so we know to resync.
    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2,
                                health_check_interval=30)


class RedisHub:
    """Delivers locally at once and publishes to Redis for the other processes; one listener
    greenlet per process takes the others' publications (skipping its own by host id)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.host_id = uuid.uuid4().hex[:12]
        self.local = InProcessHub()
        self.redis = connect(url)
        self._listener = None
        self.reconnects = 0

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
        if self._listener is None or self._listener.dead:
            self._listener = gevent.spawn(self._listen)
        self.local.subscribe(channel, connection)

    def unsubscribe(self, channel: str, connection) -> None:
        self.local.unsubscribe(channel, connection)

    def _listen(self) -> None:
        """Take publications from Redis forever; back off 1 s doubling to 60 s while it is away."""
        backoff, first = 1.0, True
        while True:
            pubsub = None
            try:
                pubsub = connect(self.url).pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(PREFIX + "*")
                if not first:
                    self.reconnects += 1
                    log.info("hub.redis_reconnected resyncing=%d", len(self.local.connections()))
                    self._resync_all()
                first, backoff = False, 1.0
                for message in pubsub.listen():
                    self._deliver(message)
            except (redis.RedisError, OSError) as e:
                log.warning("hub.redis_lost error=%s retry_in<=%.0fs", type(e).__name__, backoff)
                first = False
                gevent.sleep(random.uniform(0, backoff))
                backoff = min(backoff * 2, 60.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()

    def _deliver(self, message: dict) -> None:
        if message.get("type") != "pmessage":
            return
        data = message["data"].decode()
        host, _, payload = data.partition("\n")
        if host == self.host_id:
            return  # delivered locally when published
        channel = message["channel"].decode()[len(PREFIX):]
        self.local.publish(channel, payload)

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
        self._spend_work = None

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

    @_or_nothing_known(dict)
    def views(self, user_ids):
        user_ids = list(user_ids)
        if not user_ids:
            return {}
        now = time.time()
        pipe = self.redis.pipeline()
        for user_id in user_ids:
            pipe.hvals(f"{PREFIX}views:{user_id}")
        answer = {}
        for user_id, values in zip(user_ids, pipe.execute(), strict=True):
            places = set()
            for value in values:
                until, _, place = value.decode().partition(" ")
                if float(until) > now:
                    places.add(place)
            if places:
                answer[user_id] = places
        return answer

    @_or_nothing_known(set)
    def online(self, user_ids):
        user_ids = list(user_ids)
        if not user_ids:
            return set()
        now = time.time()
        pipe = self.redis.pipeline()
        for user_id in user_ids:
            pipe.zcount(f"{PREFIX}tabs:{user_id}", now, "+inf")
        return {u for u, count in zip(user_ids, pipe.execute(), strict=True) if count}

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
        if self._spend_work is None:
            self._spend_work = self.redis.register_script(self._SPEND_WORK)
        return float(self._spend_work(keys=[f"{PREFIX}work:{key}"], args=[cost, rate, burst]))

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
