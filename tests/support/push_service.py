"""A local push service (RFC 8030) in the test process, standing in for a browser vendor's.

It makes subscriptions as a browser's pushManager would (a P-256 key pair and a 16-byte auth
secret per device; the endpoint http://127.0.0.1:<port>/push/<device id>) and receives the app's
pushes: it checks the VAPID Authorization header (RFC 8292: ES256 signature verified with the
header's own key by py_vapid, aud = this service's origin, exp in the future and at most 24 h
away, the key the device subscribed with), checks TTL and the aes128gcm encoding, decrypts the
body with the device's private key and auth secret (http_ece, RFC 8291) and records the JSON.

A test can tell it to answer a device with another status (410: unsubscribed; 500: a bad
moment), to hold every push until released (a slow service), or stop and start it again.
"""
import base64
import contextlib
import json
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt as vapid_jwt

from .services import free_port

MAX_RECORD = 4096  # RFC 8030 section 7.2: a service may refuse larger payloads with 413
MAX_EXP = 24 * 3600  # RFC 8292 section 2: exp no more than 24 hours away
HOLD_LIMIT = 60  # a held push is let go after this long, so a failing test cannot hang
_AUTH = re.compile(r"vapid\s+(.+)", re.IGNORECASE)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_key_pair() -> tuple[str, str]:
    """A server key for tests that pass one to a live server: (private key as base64url of the
    raw scalar, as WEBCHAT_VAPID_PRIVATE_KEY takes it; public key, the applicationServerKey)."""
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(raw), b64url(public)


@dataclass
class Device:
    """One browser's subscription: what the app is given (endpoint, p256dh, auth) and the secrets
    only the browser holds (its private key), with which this service decrypts."""
    id: str
    endpoint: str
    p256dh: str
    auth: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    application_server_key: str | None = None  # pushes signed with another key are refused (403)


@dataclass
class Received:
    """A push this service accepted: its device, request headers (lower-case) and decrypted JSON."""
    device: str
    headers: dict[str, str]
    payload: dict
    claims: dict


class PushService:
    """Use as a context manager; `devices`, `received`, `attempts` and `problems` are what it saw."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.devices: dict[str, Device] = {}
        self.received: list[Received] = []
        self.attempts: list[tuple[str, int]] = []  # every POST to a device: (device id, status answered)
        self.problems: list[str] = []  # pushes refused for a fault of the sender's (bad VAPID, bad body)
        self._answers: dict[str, list[int | None]] = {}  # device -> statuses to answer next (None: forever)
        self._gone: set[str] = set()
        self._held = threading.Event()
        self._held.set()
        self.holding = 0  # pushes waiting in hold() now
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    # ----- life -----------------------------------------------------------------------------------

    def __enter__(self) -> "PushService":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.stop()

    def start(self) -> None:
        """Listen (again) on this service's port."""
        service = self

        class Handler(_Handler):
            push_service = service
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name=f"push-service-{self.port}").start()

    def stop(self) -> None:
        """Stop listening and drop every open connection: to the app, the service is down."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # ----- subscriptions and behaviour ------------------------------------------------------------

    def new_device(self, application_server_key: str | None = None) -> Device:
        """A subscription as a browser makes it (pushManager.subscribe with this applicationServerKey)."""
        key = ec.generate_private_key(ec.SECP256R1())
        secret = os.urandom(16)
        device_id = uuid.uuid4().hex
        public = key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
        device = Device(device_id, f"{self.origin}/push/{device_id}", b64url(public), b64url(secret), key, secret,
                        application_server_key)
        self.devices[device_id] = device
        return device

    def answer(self, device: Device, status: int, times: int | None = 1) -> None:
        """Answer the device's next `times` pushes (None: all, until told otherwise) with this status."""
        with self._lock:
            self._answers[device.id] = [status] * times if times is not None else [None, status]

    def gone(self, device: Device) -> None:
        """The browser unsubscribed: 410 Gone from now on."""
        with self._lock:
            self._gone.add(device.id)

    def hold(self) -> None:
        """Keep every push waiting (a slow service) until release()."""
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    # ----- what arrived ---------------------------------------------------------------------------

    def payloads(self, device: Device) -> list[dict]:
        with self._lock:
            return [r.payload for r in self.received if r.device == device.id]

    def tries(self, device: Device) -> list[int]:
        """The statuses this service answered the device's pushes with, in order."""
        with self._lock:
            return [status for d, status in self.attempts if d == device.id]

    def wait_until(self, predicate, timeout: float = 15) -> None:
        """Wait until predicate(self) is true (checked whenever a push comes in)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the push service did not see that within {timeout} s: "
                                         f"{len(self.received)} received, attempts {self.attempts}, "
                                         f"problems {self.problems}")
                self._lock.wait(min(left, 0.2))

    def wait_for(self, device: Device, count: int = 1, timeout: float = 15) -> list[dict]:
        """The device's decrypted payloads, once it has at least `count`."""
        self.wait_until(lambda s: len([r for r in s.received if r.device == device.id]) >= count, timeout)
        return self.payloads(device)

    # ----- one push -------------------------------------------------------------------------------

    def _receive(self, device_id: str, headers: dict[str, str], body: bytes) -> int:
        device = self.devices.get(device_id)
        if device is None:
            return 404
        with self._lock:
            if device_id in self._gone:
                return 410
        claims, status = self._check_vapid(device, headers.get("authorization", ""))
        if status:
            return status
        status = self._check_message(headers, body)
        if status:
            return status
        with self._lock:
            scripted = self._answers.get(device_id)
            if scripted:
                status = scripted[-1] if scripted[0] is None else scripted.pop(0)
                if status >= 300:
                    return status
        try:
            plain = http_ece.decrypt(body, private_key=device.private_key, auth_secret=device.auth_secret,
                                     version="aes128gcm")
            payload = json.loads(plain)
        except Exception as e:  # noqa: BLE001 - whatever went wrong, the sender encrypted wrongly
            return self._problem(400, f"payload not decryptable or not JSON: {type(e).__name__}: {e}")
        with self._lock:
            self.received.append(Received(device_id, headers, payload, claims))
        return 201

    def _check_vapid(self, device: Device, header: str) -> tuple[dict, int]:
        match = _AUTH.fullmatch(header.strip())
        if not match:
            return {}, self._problem(401, f"no VAPID Authorization header: {header[:40]!r}")
        parts = dict(p.strip().split("=", 1) for p in match.group(1).split(",") if "=" in p)
        token, key = parts.get("t", ""), parts.get("k", "")
        try:
            header_json = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            claims = vapid_jwt.decode(token, key)  # the ES256 signature, verified with k
        except (InvalidSignature, ValueError, IndexError) as e:
            return {}, self._problem(401, f"VAPID token not valid: {type(e).__name__}")
        now = time.time()
        if header_json.get("alg") != "ES256":
            return claims, self._problem(401, f"VAPID alg {header_json.get('alg')!r}")
        if claims.get("aud") != self.origin:
            return claims, self._problem(401, f"VAPID aud {claims.get('aud')!r} is not {self.origin}")
        if not isinstance(claims.get("exp"), int) or not now < claims["exp"] <= now + MAX_EXP + 60:
            return claims, self._problem(401, f"VAPID exp {claims.get('exp')!r} not within 24 h from now")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return claims, self._problem(401, f"VAPID sub {claims.get('sub')!r}")
        if device.application_server_key and key.rstrip("=") != device.application_server_key.rstrip("="):
            return claims, self._problem(403, "VAPID key is not the one the device subscribed with")
        return claims, 0

    def _check_message(self, headers: dict[str, str], body: bytes) -> int:
        if not headers.get("ttl", "").isdigit():
            return self._problem(400, "no TTL header")
        if headers.get("content-encoding") != "aes128gcm":
            return self._problem(415, f"Content-Encoding {headers.get('content-encoding')!r}")
        if headers.get("urgency", "normal") not in ("very-low", "low", "normal", "high"):
            return self._problem(400, f"Urgency {headers.get('urgency')!r}")
        if len(body) > MAX_RECORD:
            return self._problem(413, f"payload of {len(body)} bytes")
        return 0

    def _problem(self, status: int, what: str) -> int:
        with self._lock:
            self.problems.append(what)
        return status

    def _answered(self, device_id: str, status: int) -> None:
        with self._lock:
            self.attempts.append((device_id, status))
            self._lock.notify_all()


class _Handler(BaseHTTPRequestHandler):
    push_service: PushService
    protocol_version = "HTTP/1.1"  # keep-alive, as the real services: the app's pool reuses connections
    timeout = 30

    def setup(self) -> None:
        super().setup()
        with self.push_service._lock:
            self.push_service._connections.add(self.connection)

    def finish(self) -> None:
        with self.push_service._lock:
            self.push_service._connections.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        service = self.push_service
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = re.fullmatch(r"/push/([0-9a-f]{32})", self.path)
        if not service._held.is_set():
            with service._lock:
                service.holding += 1
                service._lock.notify_all()
            service._held.wait(HOLD_LIMIT)
            with service._lock:
                service.holding -= 1
        device_id = match.group(1) if match else ""
        status = service._receive(device_id, {k.lower(): v for k, v in self.headers.items()}, body) if match else 404
        if match:  # recorded before the answer: once the app has its answer, the test sees the try
            service._answered(device_id, status)
        self.send_response(status)
        if status == 201:
            self.send_header("Location", f"{service.origin}/message/{uuid.uuid4().hex}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet: the test reads attempts instead
        pass
