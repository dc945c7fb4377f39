"""A person using the live server the way a browser does: HTTP with a cookie, and real WebSockets.

Person: one browser session (its own cookie jar and keep-alive connection) signed in as one user;
it registers, logs in, creates chats, sends messages over HTTP and opens sockets (Tab) with its
session cookie and the app's own Origin.

Tab: one open socket. recv() returns the next text frame (None on timeout) and records a close;
the helpers below read webchat's frames: messages (<article id="m-N" data-chat="C">), the chat
list, error flashes, the sender's "pending-<client id>" confirmation. The server's heartbeat on a
quiet socket is counted (Tab.heartbeats) and, as the page does, not returned as a frame.
"""
import contextlib
import http.client
import json
import os
import re
import socket
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import websocket

PASSWORD = "password123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ARTICLE = re.compile(r"<article\b([^>]*)>(.*?)</article>", re.S)
ATTR = re.compile(r'([\w-]+)="([^"]*)"')
ANCHOR = re.compile(r"#m-(\d+)$")
CHAT_URL = re.compile(r"/chats/(\d+)$")
HEARTBEAT = "<template data-heartbeat"


# ----- reading frames ------------------------------------------------------------------------

def messages_in(html: str) -> list[dict]:
    """Every message in a frame or page, in order: {"id", "chat", "author", "html"}."""
    found = []
    for match in ARTICLE.finditer(html):
        attrs = dict(ATTR.findall(match.group(1)))
        if not attrs.get("id", "").startswith("m-"):
            continue
        found.append({"id": int(attrs["id"][2:]), "chat": int(attrs["data-chat"]),
                      "author": attrs.get("data-author"), "html": match.group(2)})
    return found


def message_ids(frames, chat: int | None = None) -> list[int]:
    """The message ids in these frames (or one frame), in arrival order, optionally of one chat only."""
    if isinstance(frames, str):
        frames = [frames]
    return [m["id"] for f in frames for m in messages_in(f) if chat is None or m["chat"] == chat]


def is_chat_list(frame: str) -> bool:
    return '<nav id="chat-list"' in frame


def is_error(frame: str) -> bool:
    return '<div id="flash" hx-swap-oob="innerHTML">' in frame and "flash--error" in frame


def is_removed(frame: str) -> bool:
    return "You're no longer in this chat" in frame or "You&#39;re no longer in this chat" in frame


def confirms(frame: str, client_id: str) -> bool:
    """The sender's confirmation of a send: the pending line's removal."""
    return f'<div id="pending-{client_id}" hx-swap-oob="delete">' in frame


TYPING = re.compile(r'<div id="typing-(\d+)" class="typing"[^>]*>(.*?)</div>', re.S)
RECEIPTS = re.compile(r'<div id="receipts-(\d+)" class="receipts"[^>]*>(.*?)</div>', re.S)
UNREAD_SIGNAL = re.compile(r'^<span id="unread-(\d+)" class="badge"([^>]*)>')
PRESENCE_SIGNAL = re.compile(r"<template data-presence-signal\b([^>]*)>")
SPAN = re.compile(r"<span\b([^>]*)>([^<]*)</span>")


def typists_in(frame: str, chat: int) -> list[str] | None:
    """The usernames a typing-<chat> frame names (None when the frame is not one)."""
    match = TYPING.search(frame)
    if not match or int(match.group(1)) != chat:
        return None
    return [dict(ATTR.findall(attrs))["data-user"] for attrs, _ in SPAN.findall(match.group(2))]


def receipts_in(frame: str, chat: int) -> dict[str, dict] | None:
    """A receipts-<chat> frame as {username: {"read", "delivered", "name"}} (None when not one)."""
    match = RECEIPTS.search(frame)
    if not match or int(match.group(1)) != chat:
        return None
    readers = {}
    for attrs, name in SPAN.findall(match.group(2)):
        a = dict(ATTR.findall(attrs))
        readers[a["data-user"]] = {"read": int(a["data-read"]), "delivered": int(a["data-delivered"]), "name": name}
    return readers


def unread_signal(frame: str, chat: int) -> int | None:
    """The count of an unread-<chat> signal (the user channel's badge update); None when not one."""
    match = UNREAD_SIGNAL.match(frame)
    if not match or int(match.group(1)) != chat:
        return None
    return int(dict(ATTR.findall(match.group(2)))["data-count"])


def presence_signals(frame: str, username: str | None = None) -> list[dict[str, str]]:
    """The presence signals in a frame, as their data attributes ({"data-user", "data-online", ...})."""
    signals = [dict(ATTR.findall(attrs)) for attrs in PRESENCE_SIGNAL.findall(frame)]
    return [s for s in signals if username is None or s.get("data-user") == username]


def new_client_id() -> str:
    return uuid.uuid4().hex


def unique_name(prefix: str) -> str:
    return f"{prefix[:20]}_{uuid.uuid4().hex[:8]}".lower()


# ----- HTTP ------------------------------------------------------------------------------------

class Response:
    def __init__(self, status: int, headers, text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.location or self.text[:80]!r}>"


class Person:
    """One browser session of one user against the live server (not thread-safe: clone() per thread)."""

    def __init__(self, base_url: str, username: str | None = None, password: str = PASSWORD) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host, self.port = parts.hostname, parts.port
        self.username = username
        self.password = password
        self.cookies: dict[str, str] = {}
        self._csrf: str | None = None
        self._conn: http.client.HTTPConnection | None = None
        self.tabs: list[Tab] = []

    # ----- accounts ---------------------------------------------------------------------------

    @classmethod
    def register(cls, base_url: str, prefix: str = "user") -> "Person":
        person = cls(base_url, unique_name(prefix))
        response = person.post("/register", {"username": person.username, "display_name": person.username.title(),
                                             "password": person.password})
        assert response.status == 302, f"registering {person.username}: {response}"
        person._csrf = None
        return person

    def login(self, remember: bool = False) -> "Person":
        response = self.post("/login", {"username": self.username, "password": self.password,
                                        "remember": "1" if remember else ""})
        assert response.status == 302, f"logging in {self.username}: {response}"
        self._csrf = None
        return self

    def restart_browser(self) -> None:
        """Quit and reopen the browser: the session cookie is gone, a remember-me cookie stays."""
        self.cookies.pop("session", None)
        self._csrf = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        response = self.get("/")
        assert response.status == 200, f"{self.username} was not signed back in: {response}"

    def another_browser(self) -> "Person":
        """The same user signed in from a second browser: a session (and sid) of its own."""
        return Person(self.base_url, self.username, self.password).login()

    def clone(self) -> "Person":
        """The same browser session on a connection of its own (for another thread)."""
        twin = Person(self.base_url, self.username, self.password)
        twin.cookies = dict(self.cookies)
        twin._csrf = self.csrf()
        return twin

    def logout(self) -> Response:
        response = self.post("/logout")
        self._csrf = None
        return response

    def change_password(self, new_password: str) -> Response:
        response = self.post("/settings", {"action": "password", "current_password": self.password,
                                           "new_password": new_password})
        if response.status == 302:
            self.password = new_password
            self._csrf = None
        return response

    # ----- chats --------------------------------------------------------------------------------

    def create_chat(self, name: str, members=()) -> int:
        response = self.post("/chats", {"name": name, "members": " ".join(p.username if isinstance(p, Person)
                                                                             else p for p in members)})
        assert response.status == 302, f"creating chat {name!r}: {response}"
        match = CHAT_URL.search(urlsplit(response.location).path)
        assert match, response.location
        return int(match.group(1))

    def send(self, chat_id: int, body: str, client_id: str | None = None) -> int:
        """Send over HTTP as a page without JavaScript does; the stored message's id."""
        response = self.post(f"/chats/{chat_id}/messages", {"body": body, "client_id": client_id or new_client_id()})
        assert response.status == 302, f"sending to chat {chat_id}: {response}"
        match = ANCHOR.search(response.location)
        assert match, response.location
        return int(match.group(1))

    def upload(self, chat_id: int, files: list[tuple[str, bytes]], body: str = "", client_id: str | None = None,
               htmx: bool = False) -> Response:
        """Send files (name, content) and a caption as one multipart POST, as the composer does: like a
        page without JavaScript (a redirect to the message), or with htmx=True like the page's uploader."""
        fields = [("body", None, body.encode()), ("client_id", None, (client_id or new_client_id()).encode())]
        fields += [("files", name, content) for name, content in files]
        return self.post_multipart(f"/chats/{chat_id}/attachments", fields, htmx)

    def choose_avatar(self, name: str, content: bytes) -> Response:
        """Upload a picture as the settings page's form does."""
        return self.post_multipart("/settings/avatar", [("avatar", name, content)])

    def post_multipart(self, path: str, fields: list[tuple[str, str | None, bytes]], htmx: bool = False) -> Response:
        """POST fields (name, file name or None, content) and the CSRF token as multipart/form-data."""
        boundary = uuid.uuid4().hex
        fields = [("csrf_token", None, self.csrf().encode()), *fields]

        def part(field, filename, content):
            disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
            return f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
        payload = b"".join(part(*f) for f in fields) + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx:
            headers["HX-Request"] = "true"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("POST", path, body=payload, headers=headers)
            raw = connection.getresponse()
            return Response(raw.status, raw.headers, raw.read().decode("utf-8", "replace"))
        finally:
            connection.close()

    def send_many(self, chat_id: int, bodies: list[str], threads: int = 4) -> list[int]:
        """Send these messages over HTTP from several connections at once; their ids, in id order."""
        chunks = [bodies[i::threads] for i in range(threads)]
        with ThreadPoolExecutor(threads) as pool:
            def send_chunk(chunk):
                twin = self.clone()
                try:
                    return [twin.send(chat_id, body) for body in chunk]
                finally:
                    twin.close_tabs()
            results = list(pool.map(send_chunk, chunks))
        return sorted(i for ids in results for i in ids)

    def stored_ids(self, chat_id: int) -> list[int]:
        """Every message id of the chat this user can read, from the HTTP catch-up endpoint."""
        ids: list[int] = []
        while True:
            response = self.get(f"/chats/{chat_id}/messages?after={ids[-1] if ids else 0}")
            assert response.status == 200, response
            page = message_ids(response.text)
            if not page:
                return ids
            ids.extend(page)

    def remove_member(self, chat_id: int, username: str) -> Response:
        return self.post(f"/chats/{chat_id}/members/{username}/remove")

    def open_direct(self, other: "Person | str") -> int:
        """Open (or create) the direct chat with another user; its id."""
        response = self.post("/dm", {"username": other.username if isinstance(other, Person) else other})
        assert response.status == 302, f"opening a DM: {response}"
        match = CHAT_URL.search(urlsplit(response.location).path)
        assert match, response.location
        return int(match.group(1))

    def set_preferences(self, *, hide_presence: bool = False, send_read_receipts: bool = True,
                        hide_system_messages: bool = False) -> None:
        """Save the settings page's three checkboxes as a browser would: unchecked ones are not sent."""
        form = {"action": "preferences"}
        for name, checked in (("hide_presence", hide_presence), ("send_read_receipts", send_read_receipts),
                              ("hide_system_messages", hide_system_messages)):
            if checked:
                form[name] = "1"
        response = self.post("/settings", form)
        assert response.status == 302, f"saving preferences: {response}"

    def mark_read(self, chat_id: int, upto: int) -> Response:
        """What a page does over HTTP while its socket is down: POST /chats/<id>/read."""
        return self.post(f"/chats/{chat_id}/read", {"upto": str(upto)})

    # ----- sockets ------------------------------------------------------------------------------

    @property
    def session_cookie(self) -> str:
        return self.cookies["session"]

    def open_tab(self, ready: bool = True, **options) -> "Tab":
        """A socket with this session's cookie and the app's Origin; ready: wait until the server serves it."""
        tab = Tab(connect(self.base_url, cookie=self.session_cookie, **options))
        self.tabs.append(tab)
        if ready:
            tab.ready()
        return tab

    def close_tabs(self) -> None:
        for tab in self.tabs:
            tab.close()
        self.tabs.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ----- requests -----------------------------------------------------------------------------

    def csrf(self) -> str:
        if self._csrf is None:
            page = self.get("/settings" if "session" in self.cookies and self.username else "/login")
            if page.status != 200:
                page = self.get("/login")
            match = CSRF.search(page.text)
            assert match, f"no CSRF token on the page: {page}"
            self._csrf = match.group(1)
        return self._csrf

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict | None = None, csrf: bool = True) -> Response:
        form = dict(form or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf())
        return self.request("POST", path, form)

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None) -> Response:
        body = urlencode(form) if form is not None else None
        headers = {"Accept": "text/html", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                raw = self._conn.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the idle keep-alive connection before reading the request.
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
                continue
            break
        for header in raw.headers.get_all("Set-Cookie") or []:
            self._take_cookie(header)
        if raw.will_close:
            self._conn.close()
            self._conn = None
        return Response(raw.status, raw.headers, data.decode("utf-8", "replace"))

    def _take_cookie(self, header: str) -> None:
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            expired = morsel["max-age"] == "0" or "1970" in (morsel["expires"] or "")
            if expired or not morsel.value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value


# ----- sockets ---------------------------------------------------------------------------------


class People:
    """Registers people on a live server and closes their sockets and connections afterwards."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.made: list[Person] = []

    def new(self, prefix: str = "user") -> Person:
        return self.keep(Person.register(self.base_url, prefix))

    def second_browser(self, person: Person) -> Person:
        return self.keep(person.another_browser())

    def keep(self, person: Person) -> Person:
        self.made.append(person)
        return person

    def close(self) -> None:
        for person in self.made:
            person.close_tabs()


def socket_url(base_url: str) -> str:
    return "ws" + base_url.rstrip("/")[len("http"):] + "/socket"


def connect(base_url: str, cookie: str | None = None, origin: str | None = None, suppress_origin: bool = False,
            timeout: float = 5, **options) -> websocket.WebSocket:
    """Open /socket; raises websocket.WebSocketBadStatusException (.status_code) when refused."""
    headers = [f"Cookie: session={cookie}"] if cookie is not None else []
    return websocket.create_connection(socket_url(base_url), header=headers,
                                       origin=base_url.rstrip("/") if origin is None else origin,
                                       suppress_origin=suppress_origin, timeout=timeout, **options)


class Closed(Exception):
    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"socket closed: {code} {reason}".strip())
        self.code = code
        self.reason = reason


NO_CLOSE_FRAME = 1006


class Tab:
    """One open socket as a test reads it."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.frames: list[str] = []  # every text frame received, in order
        self.heartbeats = 0
        self.close_code: int | None = None
        self.close_reason = ""

    # ----- sending --------------------------------------------------------------------------

    def send_json(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame, ensure_ascii=False))  # as the browser's JSON.stringify

    def view(self, chat_id: int | None, after: int = 0) -> None:
        self.send_json({"type": "view", "chat": chat_id, "after": after})

    def send(self, chat_id: int, body: str, client_id: str | None = None) -> str:
        client_id = client_id or new_client_id()
        self.send_json({"type": "send", "chat": chat_id, "body": body, "client_id": client_id})
        return client_id

    def ready(self, timeout: float = 5) -> None:
        """Round trip: after the chat list comes back, the server has subscribed this socket."""
        self.view(None)
        self.wait_for(is_chat_list, timeout)

    # ----- receiving ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def recv(self, timeout: float) -> str | bytes | None:
        """The next data frame, None when none came within timeout; raises Closed once the socket closed."""
        if self.closed:
            raise Closed(self.close_code, self.close_reason)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.ws.settimeout(remaining)
            try:
                frame = self.ws.recv_frame()
            except (websocket.WebSocketTimeoutException, TimeoutError):
                return None
            except (websocket.WebSocketConnectionClosedException, OSError):
                self._closed(NO_CLOSE_FRAME)
                raise Closed(self.close_code) from None
            if frame.opcode == websocket.ABNF.OPCODE_TEXT:
                text = frame.data.decode("utf-8")
                if text.startswith(HEARTBEAT):
                    self.heartbeats += 1
                    continue
                self.frames.append(text)
                return text
            if frame.opcode == websocket.ABNF.OPCODE_BINARY:
                return frame.data
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else 1005
                self._closed(code, frame.data[2:].decode("utf-8", "replace"))
                raise Closed(code, self.close_reason)
            if frame.opcode == websocket.ABNF.OPCODE_PING:
                with contextlib.suppress(Exception):
                    self.ws.pong(frame.data)

    def _closed(self, code: int, reason: str = "") -> None:
        self.close_code, self.close_reason = code, reason
        with contextlib.suppress(Exception):
            self.ws.send_close()
        with contextlib.suppress(Exception):
            self.ws.shutdown()

    def wait_for(self, predicate, timeout: float = 2) -> str:
        """Read until a frame matches; that frame. Fails on timeout (or close)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(max(0.0, deadline - time.monotonic()))
            if frame is None:
                raise AssertionError(f"no matching frame within {timeout} s; got {len(self.frames)} frames, "
                                     f"last: {self.frames[-1][:300] if self.frames else None!r}")
            if isinstance(frame, str) and predicate(frame):
                return frame

    def collect(self, timeout: float) -> list[str]:
        """Every text frame arriving within timeout (stops early if the socket closes)."""
        got = []
        deadline = time.monotonic() + timeout
        with contextlib.suppress(Closed):
            while (remaining := deadline - time.monotonic()) > 0:
                frame = self.recv(remaining)
                if isinstance(frame, str):
                    got.append(frame)
        return got

    def collect_until(self, predicate, timeout: float = 10) -> list[str]:
        """Frames up to and including the first one that matches."""
        start = len(self.frames)
        self.wait_for(predicate, timeout)
        return self.frames[start:]

    def wait_for_message(self, message_id: int, timeout: float = 2) -> str:
        return self.wait_for(lambda f: message_id in message_ids(f), timeout)

    def wait_closed(self, timeout: float = 2) -> int:
        """Read (and drop) frames until the server closes; the close code. Fails on timeout."""
        deadline = time.monotonic() + timeout
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                self.recv(remaining)
        except Closed as closed:
            return closed.code
        raise AssertionError(f"the socket was still open after {timeout} s")

    def assert_open(self) -> None:
        """The server still serves this socket: a round trip works."""
        self.ready()

    def close(self) -> None:
        if not self.closed:
            self.close_code = 1000
            with contextlib.suppress(Exception):
                self.ws.close(timeout=0.2)
        with contextlib.suppress(Exception):
            self.ws.shutdown()


class Reader:
    """Reads a tab in a thread of its own, stamping each text frame with its arrival time.

    counts: how many frames matched `count_if` so far (other live signals may arrive between).
    """

    def __init__(self, tab: Tab, count_if=lambda frame: True) -> None:
        self.tab = tab
        self.received: list[tuple[float, str]] = []
        self.count_if = count_if
        self.counts = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.tab.recv(0.2)
                if isinstance(frame, str):
                    self.received.append((time.monotonic(), frame))
                    if self.count_if(frame):
                        self.counts += 1
        except Closed:
            pass
        except BaseException as e:  # noqa: BLE001 - reported by stop(), not lost in the thread
            self.error = e

    def stop(self) -> list[tuple[float, str]]:
        self._stop.set()
        self._thread.join(5)
        if self.error is not None:
            raise self.error
        return self.received


def memory_kib(pid: int) -> dict[str, int]:
    """A process's resident memory now (VmRSS) and at its peak (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("VmRSS", "VmHWM")}


def reset_peak(pid: int) -> bool:
    """Set a process's VmHWM back to its current RSS; False where /proc/<pid>/clear_refs is not writable."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def server_worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers (child processes) of a master process."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its closing parenthesis.
        if int(stat.rpartition(")")[2].split()[1]) == master_pid:
            children.append(int(entry))
    return children


def server_end_open(tab: Tab, server_port: int) -> bool:
    """Whether the server's end of this tab's TCP connection is still established (Linux /proc/net/tcp)."""
    client_port = tab.ws.sock.getsockname()[1]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                local, remote, state = line.split()[1:4]
                if int(local.rsplit(":", 1)[1], 16) == server_port and \
                        int(remote.rsplit(":", 1)[1], 16) == client_port:
                    return state == "01"  # TCP_ESTABLISHED
    return False


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def socket_option_small_receive_buffer(size: int = 4096):
    return ((socket.SOL_SOCKET, socket.SO_RCVBUF, size),)


class Flooder:
    """One socket sending a frame again and again as fast as the server reads it."""

    def __init__(self, tab, frame: dict, count_if) -> None:
        self.tab = tab
        self.frame = frame
        self.reader = Reader(self.tab, count_if=count_if)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.tab.send_json(self.frame)
        except (OSError, Closed, websocket.WebSocketException):
            pass  # blocked past the socket's timeout: the server stopped reading it

    def stop(self) -> int:
        """Stop sending; how many answers counted."""
        self._stop.set()
        self.tab.close()
        self._thread.join(10)
        self.reader.stop()
        return self.reader.counts
