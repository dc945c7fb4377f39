"""RFC 6455 frames as bytes, built once and written to many sockets.

A server's frames are unmasked and, with permessage-deflate declined, identical for every
recipient: framing a published message once and writing the same bytes to each socket saves
wsproto re-framing it per socket. Incoming frames are still parsed by wsproto.
"""
import struct

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    length = len(payload)
    head = 0x80 | opcode  # FIN + opcode; servers never mask
    if length < 126:
        return struct.pack("!BB", head, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", head, 126, length) + payload
    return struct.pack("!BBQ", head, 127, length) + payload


def text_frame(text: str) -> bytes:
    # "replace": a lone surrogate a client sent (JSON's "\ud83d") and that a refusal echoes back
    # must not make the frame unencodable; the peer sees "?", never invalid UTF-8.
    return frame(OP_TEXT, text.encode("utf-8", "replace"))


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])


def ping_frame(payload: bytes = b"") -> bytes:
    return frame(OP_PING, payload)


def pong_frame(payload: bytes) -> bytes:
    return frame(OP_PONG, payload)
