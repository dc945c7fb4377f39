"""Configuration read from the environment; every setting has a safe default for the embedded mode."""
import contextlib
import os
import secrets
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _seconds(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def instance_path() -> Path:
    return Path(os.environ.get("WEBCHAT_INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()


def load_secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once into the instance folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if not key_file.exists():
        write_once(key_file, secrets.token_hex(32).encode())
    return key_file.read_text().strip()


def write_once(path: Path, content: bytes) -> None:
    """Create path with content unless it exists, atomically: workers starting together each
    write a file of their own and link it into place; the first link wins, and nobody ever reads
    a file half written (an O_EXCL create is visible, empty, before its write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(scratch, 0o600)
        with contextlib.suppress(FileExistsError):  # another worker's is in place: use theirs
            os.link(scratch, path)
    finally:
        os.unlink(scratch)


def database_url(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance / 'webchat.db'}"
    # Accept the URLs hosting providers hand out and route them to psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def from_environment(instance: Path) -> dict:
    secure_cookies = _bool("WEBCHAT_SECURE_COOKIES")
    return {
        "SECRET_KEY": load_secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": database_url(instance),
        # PostgreSQL connections one worker may hold at once (sockets hand theirs back after each
        # frame): workers × this must stay under the server's max_connections.
        "DATABASE_CONNECTIONS": int(os.environ.get("WEBCHAT_DATABASE_CONNECTIONS", "30")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        # Sign-ins end on the server's clock too (core/sessions.py), whatever a cookie says.
        "PERMANENT_SESSION_LIFETIME": _seconds("WEBCHAT_SESSION_LIFETIME", 60 * 60 * 24 * 31),
        "REMEMBER_COOKIE_DURATION": _seconds("WEBCHAT_REMEMBER_LIFETIME", 60 * 60 * 24 * 30),
        # Open tabs fetch a fresh token before theirs expires (static/csrf.js).
        "WTF_CSRF_TIME_LIMIT": _seconds("WEBCHAT_CSRF_LIFETIME", 60 * 60 * 12),
        # How often each worker checks that its sockets' sign-ins are still live (expired,
        # deactivated from the command line): the longest a socket outlives its sign-in.
        "SESSION_CHECK_SECONDS": float(os.environ.get("WEBCHAT_SESSION_CHECK_SECONDS", "5")),
        "POLL_INTERVAL_SECONDS": int(os.environ.get("WEBCHAT_POLL_INTERVAL", "20")),
        "PAGE_SIZE": 50,
        "MAX_MESSAGE_LENGTH": 4000,
        # Attachments are stored here by random names and only ever read from here; one send may
        # carry this much (MAX_CONTENT_LENGTH follows it: pages/attachments.py).
        "UPLOAD_DIR": os.environ.get("WEBCHAT_UPLOAD_DIR") or str(instance / "uploads"),
        "MAX_UPLOAD_MB": float(os.environ.get("WEBCHAT_MAX_UPLOAD_MB", "10")),
        # Memory making one picture's thumbnail may take (a worker makes one at a time); a picture
        # that would need more is a plain download, "too large to preview" (core/attachments.py).
        "PREVIEW_MEMORY_MB": float(os.environ.get("WEBCHAT_PREVIEW_MEMORY_MB", "64")),
        # Seconds after sending during which the author may edit a message; unset: always.
        # Who may register in a new workspace (its administrators change it later): "invite"
        # (with an invitation link), "open" or "closed". The first account may always register.
        "REGISTRATION_MODE": os.environ.get("WEBCHAT_REGISTRATION", "invite"),
        # The public channel made with the first account, which every new member joins; empty: none.
        "DEFAULT_CHANNEL": os.environ.get("WEBCHAT_DEFAULT_CHANNEL", "general"),
        "MESSAGE_EDIT_WINDOW_SECONDS": int(os.environ.get("WEBCHAT_EDIT_WINDOW_SECONDS", "0")) or None,
        "RATELIMIT_ENABLED": _bool("WEBCHAT_RATELIMIT", True),
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "RATELIMIT_STORAGE_URI": os.environ.get("REDIS_URL", "memory://"),
        # Redis away: count in this process meanwhile rather than fail every sign-in with a 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": False,
        "LOGIN_FAILURE_LIMIT": os.environ.get("WEBCHAT_LOGIN_FAILURE_LIMIT", "5 per 5 minutes"),
        "REGISTER_LIMIT": os.environ.get("WEBCHAT_REGISTER_LIMIT", "20 per hour"),
        # Messages one user may send, over all their tabs and sockets and HTTP together.
        "SEND_LIMIT": os.environ.get("WEBCHAT_SEND_LIMIT", "20 per 10 seconds"),
        # What else one user may do how fast (core/send_budget.py; README "Hostile clients" says why).
        "REACTION_LIMIT": os.environ.get("WEBCHAT_REACTION_LIMIT", "30 per 10 seconds"),
        "CHAT_CREATE_LIMIT": os.environ.get("WEBCHAT_CHAT_CREATE_LIMIT", "10 per minute; 100 per day"),
        "MEMBER_ADD_LIMIT": os.environ.get("WEBCHAT_MEMBER_ADD_LIMIT", "300 per 10 minutes; 2000 per day"),
        "PUT_INTO_CHATS_LIMIT": os.environ.get("WEBCHAT_PUT_INTO_CHATS_LIMIT", "20 per hour"),
        "USERNAME_LOOKUP_LIMIT": os.environ.get("WEBCHAT_USERNAME_LOOKUP_LIMIT", "200 per hour; 1000 per day"),
        # The API (webchat/api): calls one token may make, and writes (send, edit, delete, react,
        # upload) among them; the person's budgets above apply too. A JSON body's largest size.
        "API_RATE_LIMIT": os.environ.get("WEBCHAT_API_RATE_LIMIT", "600 per minute"),
        "API_SEND_LIMIT": os.environ.get("WEBCHAT_API_SEND_LIMIT", "120 per minute"),
        "API_MAX_JSON_BYTES": int(os.environ.get("WEBCHAT_API_MAX_JSON_BYTES", str(64 * 1024))),
        "PROXY_FIX": _bool("WEBCHAT_PROXY_FIX"),
        # While the socket is live it carries every message, change and list update, and a page
        # whose socket drops or goes quiet catches up at once (connection.js): this poll is only
        # the net under a delivery lost without the socket noticing, and its chat-list half is a
        # full render. Rarely, then.
        "POLL_INTERVAL_LIVE_SECONDS": int(os.environ.get("WEBCHAT_POLL_INTERVAL_LIVE", "300")),
        # Exact origins (scheme://host[:port]) allowed to open the socket besides the app's own.
        "ALLOWED_ORIGINS": [o.strip().rstrip("/") for o in os.environ.get("WEBCHAT_ALLOWED_ORIGINS", "").split(",")
                            if o.strip()],
        "SOCKET_PING_SECONDS": float(os.environ.get("WEBCHAT_SOCKET_PING_SECONDS", "25")),
        # A socket sent nothing for this long is sent a heartbeat the page sees; a page that hears
        # nothing for 2.5 of these (templating.socket_window) reconnects: a dead line is found in 25 s.
        "SOCKET_HEARTBEAT_SECONDS": float(os.environ.get("WEBCHAT_SOCKET_HEARTBEAT_SECONDS", "10")),
        "SOCKET_MAX_MESSAGE_BYTES": 16 * 1024,
        # Frames one socket may have read per second (a burst of three seconds' worth first);
        # a page sends a handful, a flood is read no faster than this.
        "SOCKET_FRAMES_PER_SECOND": float(os.environ.get("WEBCHAT_SOCKET_FRAMES_PER_SECOND", "20")),
        "SOCKETS_PER_USER": int(os.environ.get("WEBCHAT_SOCKETS_PER_USER", "50")),
        # Work one user may ask of the server, all tabs, sockets and HTTP together, in frames a
        # second after a burst (core/work_budget.py: 20 messages replayed or 16 KiB rendered
        # count as one frame more). Pages stay far below it; a flood is held to it.
        "WORK_PER_SECOND": float(os.environ.get("WEBCHAT_WORK_PER_SECOND", "40")),
        "WORK_BURST": float(os.environ.get("WEBCHAT_WORK_BURST", "200")),
        # Notifications when no tab is open (core/notifications.py, core/notifier.py).
        # At most one push or desktop notification per chat per this many seconds; later
        # messages fold into the next: "3 new messages in #general".
        "NOTIFY_FOLD_SECONDS": float(os.environ.get("WEBCHAT_NOTIFY_FOLD_SECONDS", "30")),
        # A direct message or mention still unread this long (and not pushed) is e-mailed.
        "EMAIL_AFTER_MINUTES": float(os.environ.get("WEBCHAT_EMAIL_AFTER_MINUTES", "10")),
        # How often a worker looks for notifications due (its own sends wake it at once).
        "NOTIFIER_POLL_SECONDS": float(os.environ.get("WEBCHAT_NOTIFIER_POLL_SECONDS", "1")),
        # A send wakes the notifier this long after it, with the sends that came meanwhile.
        "NOTIFIER_GATHER_SECONDS": float(os.environ.get("WEBCHAT_NOTIFIER_GATHER_SECONDS", "0.2")),
        # "auto": each gevent worker runs the notifier; "off": none does (tests drive it by hand).
        "NOTIFIER": os.environ.get("WEBCHAT_NOTIFIER", "auto"),
        # Web Push (VAPID, RFC 8292): a private key (PEM or base64url) from the environment, else
        # one generated once into the instance folder; the contact the push services may write to.
        "VAPID_PRIVATE_KEY": os.environ.get("WEBCHAT_VAPID_PRIVATE_KEY") or None,
        "VAPID_SUBJECT": os.environ.get("WEBCHAT_VAPID_SUBJECT", "mailto:webchat@localhost"),
        # Push endpoints must be https; hosts listed here may be plain http (a local push service).
        "PUSH_HTTP_HOSTS": [h.strip() for h in os.environ.get("WEBCHAT_PUSH_HTTP_HOSTS", "").split(",") if h.strip()],
        # How long one push may take (connecting, then each read) before it is retried later.
        "PUSH_TIMEOUT_SECONDS": float(os.environ.get("WEBCHAT_PUSH_TIMEOUT_SECONDS", "10")),
        # E-mail: smtp://user:pass@host:587 (STARTTLS), smtps://… (TLS from the start); unset: no e-mail.
        "SMTP_URL": os.environ.get("WEBCHAT_SMTP_URL") or None,
        "MAIL_FROM": os.environ.get("WEBCHAT_MAIL_FROM", "webchat <webchat@localhost>"),
        # A CA file to trust for the SMTP server's certificate besides the system's (a private CA).
        "SMTP_CA_FILE": os.environ.get("WEBCHAT_SMTP_CA_FILE") or None,
        # Seconds to wait on the SMTP server (connect, each reply) before trying again later.
        "SMTP_TIMEOUT_SECONDS": float(os.environ.get("WEBCHAT_SMTP_TIMEOUT", "15")),
        # "Forgot your password?" e-mails asked for one address (an address of the asker: 4 times it).
        "PASSWORD_MAIL_LIMIT": os.environ.get("WEBCHAT_PASSWORD_MAIL_LIMIT", "5 per hour"),
        # Webhooks (core/webhooks.py): how long a receiver may take (connecting, then each read)
        # before the delivery is retried later; hosts (as written in URLs) an outgoing webhook may
        # reach though they resolve to private or loopback addresses (an internal service);
        # posts one incoming webhook URL takes.
        "WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("WEBCHAT_WEBHOOK_TIMEOUT_SECONDS", "5")),
        "WEBHOOK_ALLOWED_HOSTS": [h.strip().lower().strip("[]") for h in
                                  os.environ.get("WEBCHAT_WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip()],
        "WEBHOOK_INCOMING_LIMIT": os.environ.get("WEBCHAT_WEBHOOK_INCOMING_LIMIT", "60 per minute; 1000 per hour"),
        # The address people reach the app at, for links in e-mails (sent with no request at hand).
        "BASE_URL": (os.environ.get("WEBCHAT_BASE_URL") or "http://localhost:8000").rstrip("/"),
        # (The socket package adds its thread_class: socket/__init__.py.)
        "SOCK_SERVER_OPTIONS": {"max_message_size": 16 * 1024},
    }
