"""The Flask-SocketIO peer for bench/versus.py: one room under gevent, as a Python user would write it.

A client joins the room ("join", acknowledged); a "send" from one client is rendered once into an
HTML fragment about the size of a webchat message frame and broadcast to every other client in the
room, then acknowledged to the sender (the closed-loop senders wait for it). The body carries the
client's sequence number and send time, so the client measures latency. Keep the fragment in step
with bench/peers/node/server.js (same bytes, same escaping).

Run from its own virtualenv (bench/.venv-peers: flask-socketio, gevent, gevent-websocket), never the
project's: `python server.py PORT`.
"""
from gevent import monkey

monkey.patch_all()

import importlib.metadata  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, emit, join_room  # noqa: E402
from markupsafe import escape  # noqa: E402

ROOM = "bench"
ids = itertools.count(1)

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent")  # the defaults otherwise


def render(message_id: int, author: str, body: str, at: datetime) -> str:
    iso = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (
        f'<article id="m-{message_id}" class="msg msg--text" data-id="{message_id}" data-seq="{message_id}" '
        f'data-chat="1" data-rev="0" data-author="{escape(author)}">'
        f'<header class="msg-meta"><span class="msg-author">{escape(author)}</span>\n'
        f'    <time datetime="{iso}">{iso[11:16]}</time></header>'
        f'<div class="msg-body" hx-disable><p>{escape(body)}</p></div>\n'
        '  <footer class="msg-actions"><button type="button" class="msg-action" data-action="react" '
        'aria-label="Add reaction">☺</button> <button type="button" class="msg-action" data-action="reply" '
        'aria-label="Reply">↩</button> <button type="button" class="msg-action" data-action="edit" '
        'aria-label="Edit">✎</button> <button type="button" class="msg-action" data-action="delete" '
        'aria-label="Delete">🗑</button></footer>\n</article>'
    )


@socketio.on("join")
def join(_room=None):
    join_room(ROOM)
    return {"room": ROOM}


@socketio.on("send")
def send(data):
    message_id = next(ids)
    html = render(message_id, data.get("author") or request.sid, data.get("body") or "", datetime.now(UTC))
    emit("message", html, to=ROOM, include_self=False)
    return {"id": message_id, "client_id": data.get("client_id")}


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8702"))
    version = importlib.metadata.version("flask-socketio")
    print(f"flask-socketio {version} (gevent) peer on 127.0.0.1:{port}", flush=True)
    socketio.run(app, host="127.0.0.1", port=port, log_output=False)
