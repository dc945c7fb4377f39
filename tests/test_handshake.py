"""Who may open the socket, beyond tests/test_socket.py's REFUSALS: a valid cookie from a foreign
Origin gets a refusal and nothing else (no socket, no subscription, no presence), and origins
configured in WEBCHAT_ALLOWED_ORIGINS are matched exactly (scheme, host and port). OWASP's
WebSocket cheat sheet: check Origin against an allow-list at the handshake.
"""
import base64
import os
import socket

import pytest
import websocket

from .conftest import _TMP
from .support import services
from .support.wsclient import People, connect, presence_signals

FOREIGN_ORIGINS = {
    "another site": lambda url, port: "https://evil.example",
    "null (a sandboxed frame or a file)": lambda url, port: "null",
    "no Origin header": lambda url, port: None,
    "our host as a prefix of theirs": lambda url, port: f"http://127.0.0.1:{port}.evil.example",
    "our host, https": lambda url, port: f"https://127.0.0.1:{port}",
    "our host, another port": lambda url, port: f"http://127.0.0.1:{port + 1}",
}



def raw_handshake(server, cookie: str, origin: str | None) -> tuple[socket.socket, int]:
    """Ask for the socket over a bare TCP connection, as any client can; (the connection, status)."""
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    lines = ["GET /socket HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
             f"Cookie: session={cookie}"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        assert chunk, "the server hung up without answering"
        head += chunk
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    body = head.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        body += conn.recv(4096)
    return conn, status


def bytes_after(conn: socket.socket, seconds: float) -> bytes:
    """Whatever the server sends on this connection within seconds (b"" if it hangs up or says nothing)."""
    conn.settimeout(seconds)
    received = b""
    try:
        while chunk := conn.recv(4096):
            received += chunk
    except TimeoutError:
        pass
    return received


@pytest.mark.parametrize("origin", list(FOREIGN_ORIGINS.values()), ids=list(FOREIGN_ORIGINS))
def test_a_valid_cookie_from_a_foreign_origin_is_refused_and_subscribes_to_nothing(live_server, people, origin):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.open_direct(bob)
    bob_tab = bob.open_tab()

    conn, status = raw_handshake(live_server, alice.session_cookie, origin(live_server.url, live_server.port))
    try:
        assert status == 403
        bob.send(chat, "is anyone listening?")
        # Nothing for the refused connection: no frame of the chat, no ping.
        assert bytes_after(conn, 1.0) == b""
    finally:
        conn.close()
    # Nor did alice come online for bob: no socket of hers was started.
    assert not [s for f in bob_tab.collect(0.5) for s in presence_signals(f, alice.username)
                if s.get("data-online") == "1"]
    alice.open_tab().assert_open()  # the same cookie from our own page is let in


ALLOWED = "https://chat.example.com"


@pytest.fixture(scope="module")
def configured_origin():
    with services.module_server("allowed-origins", _TMP, {"WEBCHAT_ALLOWED_ORIGINS": ALLOWED + "/"}) as live:
        yield live


@pytest.mark.parametrize("origin", [
    "https://chat.example.com.evil.com",
    "https://evil-chat.example.com",
    "https://sub.chat.example.com",
    "http://chat.example.com",
    "https://chat.example.com:8443",
    "wss://chat.example.com",
    "https://chat.example.com/path",
    "https://user@chat.example.com",
], ids=["configured host as a prefix", "configured host as a suffix", "a subdomain", "http instead of https",
        "another port", "ws scheme", "with a path", "with credentials"])
def test_a_configured_origin_is_matched_exactly(configured_origin, origin):
    people = People(configured_origin.url)
    alice = people.new("alice")
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(configured_origin.url, cookie=alice.session_cookie, origin=origin)
        assert refused.value.status_code == 403
        # The configured origin itself (and the app's own) get in.
        connect(configured_origin.url, cookie=alice.session_cookie, origin=ALLOWED).close()
        connect(configured_origin.url, cookie=alice.session_cookie).close()
    finally:
        people.close()
