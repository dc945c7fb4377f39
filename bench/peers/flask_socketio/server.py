"""The Flask-SocketIO peer for bench/versus.py: one room under gevent, as a Python user would write it.

A client joins the room ("join", acknowledged); a "send" from one client is rendered once into the
HTML of a webchat message frame (same markup and size) and broadcast to every other client in the
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
    """The markup of webchat's message frame (templates/chats/_message.html inside its out-of-band
    wrapper), so every server writes the same bytes per delivery (about 1,170)."""
    iso = at.isoformat(timespec="seconds")
    a, m = escape(author), f"/chats/1/messages/{message_id}"
    return (
        f'<div hx-swap-oob="beforeend:#messages"><article id="m-{message_id}" class="msg msg--user" '
        f'data-id="{message_id}" data-seq="{message_id}" data-chat="1" data-rev="0" data-author="{a}">\n'
        f'  <header class="msg-meta"><span class="msg-author">{a}</span>\n'
        f'    <time datetime="{iso}">{iso[11:16]}</time></header>\n'
        f'  <div class="msg-body" hx-disable><p>{escape(body)}</p></div>\n  \n'
        '<nav class="msg-actions" aria-label="Message actions">\n'
        f'  <a class="msg-action msg-action--edit" href="{m}/edit" hx-get="{m}/edit" hx-target="closest .msg"\n'
        '     hx-swap="beforeend">Edit</a>\n'
        f'  <a class="msg-action msg-action--delete" href="{m}/delete" hx-post="{m}/delete" hx-swap="none"\n'
        '     hx-confirm="Delete this message for everyone? This can&#39;t be undone.">Delete</a>\n  \n'
        '<details class="msg-action msg-action--always reaction-picker">\n'
        '  <summary title="Add a reaction">React</summary>\n'
        f'  <div class="reaction-picker-panel" hx-get="{m}/reactions" hx-trigger="toggle once from:closest details">\n'
        f'    <a href="{m}/reactions">Choose a reaction…</a></div>\n</details>\n</nav>\n</article>\n</div>'
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
