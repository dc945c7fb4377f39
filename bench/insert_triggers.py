"""What each trigger on the messages INSERT costs on SQLite: raw sqlite3, no SQLAlchemy.

A loop of what storing a message does (the chat's sequence bump, the INSERT … RETURNING, COMMIT,
in WAL mode with synchronous=NORMAL, as the app runs SQLite) on a copy of a migrated database,
with each trigger dropped in turn (0009: the search index; 0014/0008: the chat's newest id and
the author's read marker; 0015: the notification queue), and "fts_no_python": the search index's
trigger with fixed words instead of webchat_search_words (its Python share). Prints CPU µs per
message (process_time), the median of 3 interleaved rounds.

    .venv/bin/python bench/insert_triggers.py [messages per round, default 1000]
"""
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webchat import create_app  # noqa: E402
from webchat.database import register_search_words  # noqa: E402
from webchat.extensions import db  # noqa: E402
from webchat.models import Chat, Membership, User  # noqa: E402

FIXED_WORDS = """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, words)
    VALUES (new.id, '0000000001bench 0000000001123 00000000011764160000000000000 0000000001' || new.id); END"""
VARIANTS = {
    "all": [],
    "fts_no_python": ["messages_fts_insert", FIXED_WORDS],
    "no_fts": ["messages_fts_insert"],
    "no_queue": ["messages_queue_notifications"],
    "no_after_insert": ["messages_after_insert"],
    "none": ["messages_fts_insert", "messages_queue_notifications", "messages_after_insert"],
}
NEXT_SEQ = "UPDATE chats SET last_activity_at = ?, last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq"
INSERT = ("INSERT INTO messages (chat_id, seq, created_at, author_id, change_seq, kind, body, html, mentions,"
          " client_id, broadcast, reply_count, last_reply_id, thread_repliers)"
          " VALUES (?, ?, ?, ?, 0, 'user', ?, ?, '', ?, 0, 0, 0, '') RETURNING id, chat_id, seq")
NOW = "2026-12-07 20:00:00.000000"


def seeded(path: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
        chat = Chat(kind="group", name="cost")
        chat.memberships.extend(Membership(user=User(username=f"member{i:05d}", display_name=f"Member {i}",
                                                     password_hash="-")) for i in range(1000))
        db.session.add(chat)
        db.session.commit()
        db.engine.dispose()


def cost(path: str, changes: list[str], messages: int) -> float:
    c = sqlite3.connect(path, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        c.execute(f"PRAGMA {pragma}")
    register_search_words(c)
    for change in changes:
        c.execute(change if change.startswith("CREATE") else f"DROP TRIGGER {change}")
    chat_id, author = c.execute("SELECT chat_id, user_id FROM memberships LIMIT 1").fetchone()
    began = time.process_time()
    for i in range(messages):
        c.execute("BEGIN")
        seq = c.execute(NEXT_SEQ, (NOW, chat_id)).fetchall()[0][0]
        body = f"bench 123 1764160000000000000 {i}"
        c.execute(INSERT, (chat_id, seq, NOW, author, body, f"<p>{body}</p>", f"client{i:08d}")).fetchall()
        c.execute("COMMIT")
    spent = time.process_time() - began
    c.close()
    return spent / messages * 1e6


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workdir = tempfile.mkdtemp(prefix="webchat-insert-triggers-")
    base = f"{workdir}/base.db"
    seeded(base)
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(3):
        for name, changes in VARIANTS.items():
            path = f"{workdir}/{name}.db"
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            shutil.copy(base, path)
            results[name].append(cost(path, changes, messages))
    for name, runs in results.items():
        print(f"{name:16s} median {statistics.median(runs):5.0f} µs   runs {[round(r) for r in runs]}")
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
