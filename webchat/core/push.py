"""Web Push (RFC 8030, 8291, 8292): the server's VAPID key, people's devices (subscriptions), and
sending a notification to them (core/notifier.py's sender for the "push" way).

The VAPID key is the server's identity to the push services: given by the environment
(VAPID_PRIVATE_KEY, PEM or base64url of the raw key) or generated once into the instance folder,
as the secret key is (config.write_once: workers starting together write it once). Browsers subscribe
with its public half (public_key(): the applicationServerKey); a subscription made under one key
is refused by the push service under another, so the key must outlive deployments.
"""
import base64
import json
import logging
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from flask import current_app
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException
from sqlalchemy import select

from ..config import write_once
from ..extensions import db
from ..models import Notification, PushSubscription, User, utcnow
from ..realtime.event_loop import under_gevent
from .errors import ChatError
from .notifications import DROPPED, FAILED, RETRY, SENT, notices

log = logging.getLogger(__name__)

KEY_FILE = "vapid_private.pem"
MAX_DEVICES = 20  # per person: a browser that subscribes again replaces its own row (same endpoint)
MAX_ENDPOINT = 2000
# RFC 8291: the browser's P-256 public key (65 bytes) and auth secret (16 bytes), base64url.
_P256DH = re.compile(r"[A-Za-z0-9_-]{86,88}={0,2}")
_AUTH = re.compile(r"[A-Za-z0-9_-]{21,24}={0,2}")


def vapid() -> Vapid02:
    """The server's VAPID key (loaded once per process)."""
    app = current_app._get_current_object()
    key = app.extensions.get("webchat.vapid")
    if key is None:
        key = app.extensions["webchat.vapid"] = _load_key(app)
    return key


def _load_key(app) -> Vapid02:
    configured = app.config.get("VAPID_PRIVATE_KEY")
    if configured:
        configured = configured.strip()
        if configured.startswith("-----BEGIN"):
            return Vapid02.from_pem(configured.encode())
        return Vapid02.from_string(configured)
    path = Path(app.instance_path) / KEY_FILE
    if not path.exists():
        fresh = Vapid02()
        fresh.generate_keys()
        write_once(path, fresh.private_pem())
    with open(path, "rb") as f:
        return Vapid02.from_pem(f.read())


def public_key() -> str:
    """The applicationServerKey a browser subscribes with: the uncompressed P-256 point, base64url."""
    raw = vapid().public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check_endpoint(endpoint: str) -> str:
    """A push service's URL: https, or http to a host the configuration allows (a local service)."""
    endpoint = (endpoint or "").strip()
    parts = urlsplit(endpoint) if len(endpoint) <= MAX_ENDPOINT else None
    if parts is None or not parts.hostname or parts.username or parts.password:
        raise ChatError("This browser's push address is not one we can send to.", 422)
    if parts.scheme == "https":
        return endpoint
    if parts.scheme == "http" and parts.hostname in current_app.config["PUSH_HTTP_HOSTS"]:
        return endpoint
    raise ChatError("This browser's push address is not one we can send to.", 422)


def subscribe(user: User, endpoint: str, p256dh: str, auth: str, device: str = "") -> PushSubscription:
    """Add (or renew) a device of the user's: the subscription a browser's pushManager made. The
    same endpoint again is the same device (its keys may have changed); an endpoint of someone
    else's is theirs no more (the browser was signed in to another account)."""
    endpoint = check_endpoint(endpoint)
    p256dh, auth = (p256dh or "").strip(), (auth or "").strip()
    if not _P256DH.fullmatch(p256dh) or not _AUTH.fullmatch(auth):
        raise ChatError("This browser's push keys are malformed. Try again, or use another browser.", 422)
    device = " ".join((device or "").split())[:100]
    row = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if row is None:
        count = db.session.scalar(select(db.func.count()).select_from(PushSubscription)
                                  .where(PushSubscription.user_id == user.id))
        if count >= MAX_DEVICES:
            raise ChatError(f"You have {MAX_DEVICES} devices with notifications on. Remove one in Settings first.",
                            409)
        row = PushSubscription(user_id=user.id, endpoint=endpoint)
        db.session.add(row)
    row.user_id, row.p256dh, row.auth, row.device, row.created_at = user.id, p256dh, auth, device, utcnow()
    db.session.commit()
    return row


def devices(user: User) -> list[PushSubscription]:
    """The user's devices with notifications on, newest first."""
    return list(db.session.scalars(select(PushSubscription).where(PushSubscription.user_id == user.id)
                                   .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())))


def unsubscribe(user: User, subscription_id: int) -> None:
    """Remove one of the user's devices (404 for anyone else's: it is not theirs to know of)."""
    row = db.session.get(PushSubscription, subscription_id)
    if row is None or row.user_id != user.id:
        raise ChatError("That device is not in your list.", 404)
    db.session.delete(row)
    db.session.commit()


def unsubscribe_endpoint(user: User, endpoint: str) -> bool:
    """Remove the user's device by its endpoint (the browser turned notifications off); False when
    it was not theirs or not there."""
    row = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == (endpoint or "").strip(),
                                                           PushSubscription.user_id == user.id))
    if row is None:
        return False
    db.session.delete(row)
    db.session.commit()
    return True


# ----- sending: the notifier's sender for the "push" way -----------------------------------------

TTL_SECONDS = 24 * 3600  # a device offline for longer gets nothing: the unread badge says it then
VAPID_LIFETIME = 12 * 3600  # a signed VAPID header's exp (RFC 8292: at most 24 hours)
VAPID_RENEW = 3600  # sign again when less than this is left
POOL_SIZE = 20  # pushes in flight at once under gevent (and connections kept per push service)
MAX_PAYLOAD = 3000  # bytes of JSON; the encrypted record must stay under the services' 4096
DELIVERED, GONE, TRANSIENT, REFUSED = "delivered", "gone", "transient", "refused"

_session = None  # (pid, requests.Session): one connection pool per process, never across a fork


def send_notifications(rows: list[Notification]) -> dict[int, str]:
    """Send each claimed push row to every device of its person; the outcome of each row.

    A row is SENT when any device took it (202/201), DROPPED when its message is gone or no device
    is left (404/410 remove the device), RETRY when a device's service was busy, down or slow
    (429, 5xx, timeout: the notifier's backoff), FAILED when every device's service refused it
    (400, 403, 413: retrying would be refused again). A row that reached one device while another
    device's service was busy counts as SENT: the notifier keeps one row per person, not per device,
    and sending the row again would notify the first device twice; the busy device shows the
    person's next notification instead.
    """
    outcomes = {row.id: DROPPED for row in rows}  # no notice (message deleted), no device: dropped
    said = notices(rows)
    subscriptions: dict[int, list[PushSubscription]] = {}
    for sub in db.session.scalars(select(PushSubscription).where(
            PushSubscription.user_id.in_({row.user_id for row, _ in said})).order_by(PushSubscription.id)):
        subscriptions.setdefault(sub.user_id, []).append(sub)
    jobs = [(row, sub, _payload(notice)) for row, notice in said for sub in subscriptions.get(row.user_id, ())]
    headers = _vapid_headers({_origin(sub.endpoint) for _, sub, _ in jobs})
    results = _deliver_all([(sub, payload, _headers(row, headers[_origin(sub.endpoint)]))
                            for row, sub, payload in jobs])
    by_row: dict[int, set[str]] = {}
    now = utcnow()
    for (row, sub, _), result in zip(jobs, results, strict=True):
        by_row.setdefault(row.id, set()).add(result)
        if result == DELIVERED:
            sub.last_used_at = now
        elif result == GONE:
            db.session.delete(sub)
    for row_id, results_of_row in by_row.items():
        if DELIVERED in results_of_row:
            outcomes[row_id] = SENT
        elif TRANSIENT in results_of_row:
            outcomes[row_id] = RETRY
        elif REFUSED in results_of_row:
            outcomes[row_id] = FAILED
    db.session.commit()  # removed devices stay removed whatever another way's sender does next
    return outcomes


def _payload(notice) -> bytes:
    """What the service worker (static/sw.js) gets: the notice's words, address and ids, as JSON."""
    data = {"title": notice.title, "body": notice.body, "url": notice.url, "tag": notice.tag,
            "chat": notice.chat_id, "thread": notice.thread_id, "message": notice.message_id}
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    if len(encoded) > MAX_PAYLOAD:  # only a title of very long names can get here (the body is cut)
        data["title"] = data["title"][:100] + "…"
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return encoded


def _headers(row: Notification, vapid_headers: dict[str, str]) -> dict[str, str]:
    # Topic (RFC 8030 5.4): a newer push of the same chat replaces one the service still holds
    # for an offline device, as the notification's tag does on screen.
    return {**vapid_headers, "Urgency": "high" if row.reason in ("dm", "mention") else "normal",
            "Topic": f"webchat-{row.chat_id}"}


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def _vapid_headers(origins: set[str]) -> dict[str, dict[str, str]]:
    """The signed VAPID Authorization header for each push service, reused until an hour before
    it expires (signing is the costly part of a push; one signature serves every device there)."""
    app = current_app._get_current_object()
    signed = app.extensions.setdefault("webchat.vapid_headers", {})
    now = int(time.time())
    key = None
    for origin in origins:
        if origin not in signed or signed[origin][1] - now < VAPID_RENEW:
            key = key or vapid()
            exp = now + VAPID_LIFETIME
            claims = {"sub": app.config["VAPID_SUBJECT"], "aud": origin, "exp": exp}
            signed[origin] = (key.sign(claims), exp)
    return {origin: signed[origin][0] for origin in origins}


def _deliver_all(jobs: list[tuple[PushSubscription, bytes, dict]]) -> list[str]:
    """Each push's result, in order: side by side under gevent (POOL_SIZE at a time; a slow
    service holds only its own pushes, each for at most PUSH_TIMEOUT_SECONDS), one by one
    otherwise (the development server, tests driving the notifier by hand)."""
    if not jobs:
        return []
    timeout = current_app.config["PUSH_TIMEOUT_SECONDS"]
    prepared = [({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}, payload, headers)
                for sub, payload, headers in jobs]

    def one(job):
        return _deliver(*job, timeout=timeout)
    if under_gevent() and len(prepared) > 1:
        from gevent.pool import Pool
        return list(Pool(POOL_SIZE).imap(one, prepared))
    return [one(job) for job in prepared]


def _deliver(subscription: dict, payload: bytes, headers: dict, timeout: float) -> str:
    """POST one encrypted push (RFC 8291 aes128gcm) to one device's push service; how it went."""
    origin = _origin(subscription["endpoint"])
    try:
        response = WebPusher(subscription, requests_session=_http()).send(
            payload, dict(headers), ttl=TTL_SECONDS, content_encoding="aes128gcm", timeout=timeout)
    except requests.RequestException as e:  # refused, reset, timed out: the service is away for now
        log.warning("push.unreachable origin=%s error=%s", origin, type(e).__name__)
        return TRANSIENT
    except (WebPushException, ValueError) as e:  # keys that are no P-256 point: never sendable
        log.warning("push.bad_keys origin=%s error=%s", origin, type(e).__name__)
        return REFUSED
    status = response.status_code
    if 200 <= status < 300:
        return DELIVERED
    if status in (404, 410):  # the browser unsubscribed, or the service expired the subscription
        log.info("push.gone origin=%s status=%d", origin, status)
        return GONE
    if status == 429 or status >= 500:
        # Retry-After is honoured roughly: the notifier's backoff (5 s, 10 s, 20 s …) waits instead.
        log.warning("push.busy origin=%s status=%d retry_after=%s", origin, status,
                    response.headers.get("Retry-After", "-"))
        return TRANSIENT
    log.warning("push.refused origin=%s status=%d", origin, status)  # 400, 401, 403, 413: ours to fix
    return REFUSED


def _http() -> requests.Session:
    """This process's connection pool to the push services (made after gunicorn forks)."""
    global _session
    if _session is None or _session[0] != os.getpid():
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _session = (os.getpid(), session)
    return _session[1]
