"""Hostile socket clients against the real server: oversized, compressed and fragmented frames,
and frames of every wrong shape. Each is refused cleanly (an error fragment, or a close with its
RFC 6455 code), nothing stored changes, the worker's memory stays bounded and it keeps serving
everyone else. (OWASP WebSocket Security Cheat Sheet: input validation, message size limits.)

Frames are built byte by byte where a normal client would refuse to send them.
"""
import contextlib
import html
import json

import pytest
import websocket

from .support import rawframes
from .support.rawframes import OP_BINARY, OP_CONTINUATION, OP_TEXT, frame
from .support.wsclient import (
    People,
    confirms,
    is_error,
    message_ids,
    new_client_id,
    rss_kib,
    server_worker_pids,
    socket_url,
)

PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009


@pytest.fixture(scope="module")
def module_people(live_server):
    made = People(live_server.url)
    yield made
    made.close()


@pytest.fixture(scope="module")
def attacker(module_people):
    """A user with a chat of their own and a friend in it; what they throw at the server must not change it."""
    mallory, friend = module_people.new("mallory"), module_people.new("friend")
    chat = mallory.create_chat("Mallory's", [friend])
    mallory.send(chat, "the one honest message")
    return mallory, chat


@pytest.fixture(scope="module")
def bystanders(module_people):
    """Two people chatting elsewhere on the same worker."""
    carol, dave = module_people.new("carol"), module_people.new("dave")
    return carol, dave, carol.create_chat("Elsewhere", [dave])


@pytest.fixture
def watching(bystanders):
    """dave's open socket on the bystanders' chat, for the test's duration."""
    carol, dave, chat = bystanders
    tab = dave.open_tab()
    yield tab
    tab.close()


def assert_others_still_served(bystanders, tab) -> None:
    """Another user's socket on the same worker still gets a new message."""
    carol, _, chat = bystanders
    message_id = carol.send(chat, "still there?")
    tab.wait_for_message(message_id, timeout=2)


def send_raw(tab, data: bytes) -> None:
    """Write bytes to the socket; the server may hang up part-way, which is what some tests expect."""
    with contextlib.suppress(OSError):
        tab.ws.sock.sendall(data)


def is_refusal(text: str) -> bool:
    """The error flash, or a send's pending line marked failed (its text kept)."""
    return is_error(text) or "pending--failed" in text


def server_log_tail(live_server) -> int:
    return live_server.log_path.stat().st_size


def tracebacks_since(live_server, offset: int) -> list[str]:
    with open(live_server.log_path, errors="replace") as log:
        log.seek(offset)
        return [line for line in log if "Traceback" in line or "level=ERROR" in line]


# ----- 6. frames too big to take ------------------------------------------------------------------

TOO_BIG = {
    "one frame claiming 64 MiB": (rawframes.claiming_64_mib, MESSAGE_TOO_BIG),
    "41 continuation frames of 1 KiB": (rawframes.continuation_frames_past_the_limit, MESSAGE_TOO_BIG),
    "5,000 empty continuation frames": (rawframes.empty_continuation_frames, MESSAGE_TOO_BIG),
    "a few KiB compressed, 16 MiB inflated": (rawframes.compressed_bomb, PROTOCOL_ERROR),
}


@pytest.mark.parametrize(("build", "code"), list(TOO_BIG.values()), ids=list(TOO_BIG))
def test_a_frame_too_big_to_take_closes_the_socket_with_its_code_and_changes_nothing(
        live_server, attacker, bystanders, watching, build, code):
    mallory, chat = attacker
    before = mallory.stored_ids(chat)
    (worker,) = server_worker_pids(live_server.process.pid)
    rss_before = rss_kib(worker)

    for _ in range(10):
        tab = mallory.open_tab()
        send_raw(tab, build())
        assert tab.wait_closed(timeout=5) == code

    grown_mib = (rss_kib(worker) - rss_before) / 1024
    print(f"\nworker RSS after 10 of these: {grown_mib:+.1f} MiB")
    assert grown_mib < 32, "the worker kept what it was sent"
    assert mallory.stored_ids(chat) == before
    assert_others_still_served(bystanders, watching)
    mallory.open_tab().assert_open()


def test_compression_offered_by_the_client_is_declined_in_the_handshake(live_server, attacker):
    mallory, chat = attacker
    ws = websocket.create_connection(
        socket_url(live_server.url), origin=live_server.url, timeout=5,
        header=[f"Cookie: session={mallory.session_cookie}",
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"])
    try:
        headers = {k.lower(): v for k, v in ws.getheaders().items()}
        assert ws.getstatus() == 101
        assert "sec-websocket-extensions" not in headers, headers
    finally:
        ws.close()


def test_a_frame_of_just_under_the_limit_in_many_frames_is_read_whole(attacker):
    mallory, chat = attacker
    tab = mallory.open_tab()
    body = json.dumps({"type": "view", "chat": None, "after": 0, "pad": "z" * (15 * 1024)}).encode()
    pieces = [body[i:i + 512] for i in range(0, len(body), 512)]
    assert len(pieces) <= 64
    send_raw(tab, b"".join(frame(OP_TEXT if i == 0 else OP_CONTINUATION, piece, fin=i == len(pieces) - 1)
                           for i, piece in enumerate(pieces)))
    assert "Unexpected fields: pad" in tab.wait_for(is_error)
    tab.assert_open()
    tab.close()


# ----- 7. frames of the wrong shape ---------------------------------------------------------------

def _text(payload: str):
    return lambda chat: frame(OP_TEXT, payload.encode())


def _json(make):
    return lambda chat: frame(OP_TEXT, json.dumps(make(chat)).encode())


def _send(chat: int, **fields) -> dict:
    return {"type": "send", "chat": chat, "body": "hi", "client_id": new_client_id(), **fields}


# case: (frame bytes for the chat, what the server answers: a close code, or words in the error fragment)
WRONG_SHAPE = {
    "binary": (lambda chat: frame(OP_BINARY, b"\x00\x01binary"), UNSUPPORTED_DATA),
    "invalid UTF-8": (lambda chat: frame(OP_TEXT, b'{"type":"\xff\xfe"}'), INVALID_PAYLOAD),
    "UTF-8 cut between two frames": (
        lambda chat: frame(OP_TEXT, b'{"a":"\xf0\x9f', fin=False) + frame(OP_CONTINUATION, b'\x28\x8c"}'),
        INVALID_PAYLOAD),
    "UTF-8 cut at the end": (lambda chat: frame(OP_TEXT, b'{"a":"\xf0\x9f'), INVALID_PAYLOAD),
    "not JSON": (_text("hello there"), "not JSON"),
    "only spaces": (_text("   "), "not JSON"),
    "arrays nested 5,000 deep": (_text("[" * 5000 + "]" * 5000), "not JSON"),
    "a number of 4,400 digits": (_text('{"type":"view","chat":' + "7" * 4400 + "}"), "not JSON"),
    "an array of 5,000 numbers": (_text("[" + ",".join(["1"] * 5000) + "]"), "must be a JSON object"),
    "a JSON string": (_text('"send"'), "must be a JSON object"),
    "null": (_text("null"), "must be a JSON object"),
    "chat an array of 3,000 numbers": (_json(lambda chat: {"type": "view", "chat": [chat] * 3000}),
                                       "must be a whole number"),
    "chat NaN": (_text('{"type":"view","chat":NaN}'), "must be a whole number"),
    "chat a fraction": (_json(lambda chat: {"type": "view", "chat": chat + 0.5}), "must be a whole number"),
    "chat past 64 bits": (_json(lambda chat: {"type": "view", "chat": 2 ** 70}), "must be a whole number"),
    "type a list": (_json(lambda chat: {"type": ["send"], "chat": chat}), "Unknown frame type"),
    "type an object": (_json(lambda chat: {"type": {"send": 1}}), "Unknown frame type"),
    "no type": (_text("{}"), "Unknown frame type"),
    "upto text": (_json(lambda chat: {"type": "read", "chat": chat, "upto": "lots"}), "must be a whole number"),
    "send without chat": (_json(lambda chat: {k: v for k, v in _send(chat).items() if k != "chat"}),
                          "must be a whole number"),
    "send without body": (_json(lambda chat: {k: v for k, v in _send(chat).items() if k != "body"}),
                          "needs a text body"),
    "body a list": (_json(lambda chat: _send(chat, body=["hi"] * 1000)), "needs a text body"),
    "client id a number": (_json(lambda chat: _send(chat, client_id=12345678)), "needs a text body"),
    "send naming its author": (_json(lambda chat: _send(chat, author_id=1)), "Unexpected fields: author_id"),
    "send with __proto__": (_json(lambda chat: _send(chat, __proto__={"admin": True})), "Unexpected fields"),
    "typing without state": (_json(lambda chat: {"type": "typing", "chat": chat}), "must be start or stop"),
    "view-state visible as text": (_json(lambda chat: {"type": "view-state", "chat": chat, "visible": "yes"}),
                                   "must be true or false"),
    "view-state thread without its chat": (_json(lambda chat: {"type": "view-state", "chat": None, "thread": 40,
                                                               "visible": True}), "only in its chat"),
    "view-state naming its place": (_json(lambda chat: {"type": "view-state", "chat": chat, "visible": True,
                                                        "place": f"{chat} t1"}), "Unexpected fields: place"),
    "body with a NUL": (_json(lambda chat: _send(chat, body="nul \u0000 here")), "can't store"),
    "body with an unpaired surrogate": (lambda chat: frame(OP_TEXT, (
        f'{{"type":"send","chat":{chat},"body":"half \\ud83d an emoji","client_id":"{new_client_id()}"}}'
    ).encode()), "can't store"),
}


@pytest.mark.parametrize(("build", "answer"), list(WRONG_SHAPE.values()), ids=list(WRONG_SHAPE))
def test_a_frame_of_the_wrong_shape_is_refused_cleanly_and_the_worker_serves_everyone_else(
        live_server, attacker, bystanders, watching, build, answer):
    mallory, chat = attacker
    before = mallory.stored_ids(chat)
    log_offset = server_log_tail(live_server)
    tab = mallory.open_tab()

    send_raw(tab, build(chat))
    if isinstance(answer, int):
        assert tab.wait_closed(timeout=3) == answer
    else:
        refusal = tab.wait_for(lambda f: is_refusal(f) or bool(message_ids(f)), timeout=3)
        assert is_refusal(refusal) and answer in html.unescape(refusal), refusal
        assert "went wrong" not in refusal
        # The socket is still usable for proper frames.
        client_id = tab.send(chat, "a proper message")
        (sent,) = message_ids(tab.wait_for(lambda f: confirms(f, client_id)), chat)
        before.append(sent)

    assert mallory.stored_ids(chat) == before
    assert_others_still_served(bystanders, watching)
    assert tracebacks_since(live_server, log_offset) == [], "a refusal must not be an unhandled error"
    tab.close()


def test_a_nul_in_a_message_posted_over_http_is_refused_in_words_and_nothing_is_stored(live_server, attacker):
    # PostgreSQL refuses NUL in text: without the check this was a 503 "can't reach its database".
    mallory, chat = attacker
    before = mallory.stored_ids(chat)
    log_offset = server_log_tail(live_server)
    refused = mallory.post(f"/chats/{chat}/messages", {"body": "nul \x00 here", "client_id": new_client_id()})
    assert refused.status == 422
    assert "a character webchat can't store" in html.unescape(refused.text)
    assert mallory.stored_ids(chat) == before
    assert tracebacks_since(live_server, log_offset) == []
