"""Web Push (RFC 8030, 8291, 8292): the server's VAPID key, people's devices (subscriptions), and
sending a notification to them (core/notifier.py's sender for the "push" way).

The VAPID key is the server's identity to the push services: given by the environment
(VAPID_PRIVATE_KEY, PEM or base64url of the raw key) or generated once into the instance folder,
as the secret key is (two workers starting together write it once: O_EXCL). Browsers subscribe
with its public half (public_key(): the applicationServerKey); a subscription made under one key
is refused by the push service under another, so the key must outlive deployments.
"""
import base64
import os
import re
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from flask import current_app
from py_vapid import Vapid02
from sqlalchemy import select

from ..extensions import db
from ..models import Notification, PushSubscription, User, utcnow
from .errors import ChatError

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
    path = os.path.join(app.instance_path, KEY_FILE)
    if not os.path.exists(path):
        fresh = Vapid02()
        fresh.generate_keys()
        os.makedirs(app.instance_path, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker wrote it first: use theirs
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(fresh.private_pem())
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


def send_notifications(rows: list[Notification]) -> dict[int, str]:
    """Send each claimed push row to every device of its person; the outcome of each row."""
    raise NotImplementedError  # issue 24: the push sender comes next
