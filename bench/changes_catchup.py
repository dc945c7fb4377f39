"""Does catching up on thousands of changed messages hold up everyone else on the worker? (issue 18)

Starts a checkout of webchat (--checkout, default this one) under gunicorn -k gevent, one worker,
SQLite in a temp dir, shipped settings. A chat gets --changed messages (default 5,000), every one
edited (written straight into the database: as many edits over HTTP would take minutes). Another
client asks GET /healthz every 10 ms throughout; per scenario it prints the longest and the p99
/healthz wait, how long the catch-up took and what the catching-up page was sent:

  idle                 nobody catching up (the probe alone)
  one view             one socket sends {"type":"view","chat":<id>,"after":<huge>,"changes":0}
  10 sockets x N cuts  ten sockets do the same at once, as pages reconnecting after a cut, N times
  one poll             the same catch-up over HTTP (GET /chats/<id>/messages?after=…&changes=0),
                       following "messages-behind" until the page has it all

    .venv/bin/python bench/changes_catchup.py [--checkout /path/to/webchat] [--changed 5000] [--cuts 5]

Not a test: nothing asserts (tests/test_work_budget.py checks the behaviour).
"""
import argparse
import http.client
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checkout_server import HERE, CheckoutServer, percentile  # noqa: E402
from tests.support.wsclient import Closed, Person, is_chat_list, message_ids  # noqa: E402

CHANGES = re.compile(r"<template data-message-changes\b[^>]*>(.*?)</template>", re.S)
FILLER = "lorem ipsum dolor sit amet, consectetur adipiscing elit " * 4


class HealthProbe:
    """GET /healthz every 10 ms on a connection of its own; each wait, stamped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.waits: list[tuple[float, float]] = []  # (started, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self._stop.is_set():
            started = time.monotonic()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            self.waits.append((started, time.monotonic() - started))
            time.sleep(0.01)
        conn.close()

    def between(self, start: float, end: float) -> list[float]:
        return [wait for stamp, wait in self.waits if start <= stamp <= end or start <= stamp + wait <= end]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def seed_changes(database: Path, chat: int, author: int, count: int) -> None:
    """count messages in the chat, each edited once (change numbers 1..count), as the app stores them."""
    from webchat.database import register_search_words

    with sqlite3.connect(database) as db:
        # Since migration 0009 the search index's triggers call it (harmless for an older checkout).
        register_search_words(db)
        (last_seq,) = db.execute("SELECT last_seq FROM chats WHERE id = ?", (chat,)).fetchone()
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO messages (chat_id, seq, kind, author_id, body, html, mentions, client_id, created_at, "
            "change_seq, edited_at) SELECT ?, ? + i, 'user', ?, 'edited ' || i || ' ' || ?, "
            "'<p>edited ' || i || ' ' || ? || '</p>', '', NULL, CURRENT_TIMESTAMP, i, CURRENT_TIMESTAMP FROM n",
            (count, chat, last_seq, author, FILLER, FILLER))
        db.execute("UPDATE chats SET last_seq = ?, last_change_seq = ? WHERE id = ?", (last_seq + count, count, chat))


def catch_up(tab, frame: dict) -> list[str]:
    """Send the frame and read until the answer ends (the chat list) or the server cuts the socket
    (a reader more than 1 MiB behind is cut: the frames got until then)."""
    start = len(tab.frames)
    tab.send_json(frame)
    try:
        tab.wait_for(is_chat_list, timeout=300)
    except Closed as closed:
        tab.frames.append(f"cut by the server ({closed.code})")
    return tab.frames[start:]


def sent_to_page(frames: list[str]) -> str:
    changed = sum(len(message_ids(m.group(1))) for f in frames for m in CHANGES.finditer(f))
    reload = sum("data-reload-view" in f for f in frames)
    cut = [f for f in frames if f.startswith("cut by the server")]
    return f"{changed} changed messages" + (f", {reload} reload" if reload else "") + (f", {cut[0]}" if cut else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=HERE, help="the webchat checkout to serve (default: this one)")
    parser.add_argument("--changed", type=int, default=5000, help="changed messages in the chat (default 5000)")
    parser.add_argument("--cuts", type=int, default=5, help="rounds of ten sockets catching up (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webchat-bench-changes-") as tmp, \
            CheckoutServer(args.checkout, Path(tmp)) as server:
        print(f"checkout {server.checkout} ({server.commit()}); {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f} at start")
        alice, bob = Person.register(server.url, "alice"), Person.register(server.url, "bob")
        chat = alice.create_chat("Busy", [bob])
        with sqlite3.connect(server.database) as db:
            (author,) = db.execute("SELECT id FROM users WHERE username = ?", (alice.username,)).fetchone()
        seed_changes(server.database, chat, author, args.changed)
        newest = 2 ** 40
        view = {"type": "view", "chat": chat, "after": newest, "changes": 0}
        probe = HealthProbe(server.port)
        rows = []

        def scenario(name: str, run) -> None:
            time.sleep(0.5)
            started = time.monotonic()
            note = run()
            ended = time.monotonic()
            time.sleep(0.3)
            waits = probe.between(started, ended + 0.3)
            rows.append((name, max(waits) * 1000, percentile(waits, 0.99) * 1000, len(waits), ended - started, note))

        scenario("idle", lambda: time.sleep(3) or "")

        def one_view():
            tab = bob.open_tab()
            frames = catch_up(tab, view)
            tab.close()
            return sent_to_page(frames)
        scenario("one view", one_view)

        def cuts():
            notes = []
            for _ in range(args.cuts):
                tabs = [bob.open_tab() for _ in range(10)]
                got = [[] for _ in tabs]
                readers = [threading.Thread(target=lambda tab=tab, into=into: into.extend(catch_up(tab, view)))
                           for tab, into in zip(tabs, got, strict=True)]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join()
                for tab in tabs:
                    tab.close()
                notes.append(sent_to_page(got[0]))
            return f"each socket: {notes[0]}"
        scenario(f"10 sockets x {args.cuts} cuts", cuts)

        def poll():
            cursor, requests, frames = 0, 0, []
            while True:
                response = bob.get(f"/chats/{chat}/messages?after={newest}&changes={cursor}",
                                   headers={"HX-Request": "true"})
                requests += 1
                frames.append(response.text)
                more = re.search(r'data-changes="(\d+)"', response.text)
                if response.headers.get("HX-Trigger") != "messages-behind" or not more:
                    break
                cursor = int(more.group(1))
            return f"{sent_to_page(frames)} in {requests} requests"
        scenario("one poll", poll)
        probe.stop()

        print(f"\n{args.changed} changed messages; /healthz asked every 10 ms\n")
        print(f"{'scenario':22} {'longest':>9} {'p99':>8} {'probes':>6} {'took':>7}  sent to the page")
        for name, longest, p99, count, took, note in rows:
            print(f"{name:22} {longest:7.1f}ms {p99:6.1f}ms {count:6d} {took:6.2f}s  {note}")
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
