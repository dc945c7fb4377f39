"""Client frames built byte by byte, for what a well-behaved client library refuses to send:
oversized length claims, compressed (RSV1) frames nobody negotiated, fragments without end.
Used by tests/test_hostile_sockets.py and bench/hostile_frames.py."""
import struct
import zlib

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
MIB = 1024 * 1024


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, declared: int | None = None) -> bytes:
    """One client frame, masked with a zero key (so the payload goes as it is); declared: a length to claim."""
    length = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += struct.pack("!BH", 0x80 | 126, length)
    else:
        head += struct.pack("!BQ", 0x80 | 127, length)
    return head + b"\0\0\0\0" + payload


def deflate_raw(data: bytes) -> bytes:
    """data as permessage-deflate would send it (a raw deflate stream without its sync-flush tail)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]


def claiming_64_mib() -> bytes:
    """The start of one text frame that claims 64 MiB: 32 KiB of it, the rest never comes."""
    return frame(OP_TEXT, b'{"type":"view","pad":"' + b"x" * (32 * 1024), declared=64 * MIB)


def continuation_frames_past_the_limit() -> bytes:
    """A message in 1 KiB frames, 41 of them (past 16 KiB), never finished."""
    piece = b"y" * 1024
    return (frame(OP_TEXT, b'{"type":"view","pad":"' + piece, fin=False)
            + b"".join(frame(OP_CONTINUATION, piece, fin=False) for _ in range(40)))


def empty_continuation_frames(count: int = 5000) -> bytes:
    """A message that never grows and never ends: count empty continuation frames."""
    return frame(OP_TEXT, b'{"type":"view"', fin=False) + frame(OP_CONTINUATION, b"", fin=False) * count


def compressed_bomb(inflated: int = 16 * MIB) -> bytes:
    """One RSV1 text frame of a few KiB that would inflate to `inflated` bytes of JSON."""
    return frame(OP_TEXT, deflate_raw(b'{"type":"view","chat":null,"pad":"' + b"a" * inflated + b'"}'), rsv1=True)
