"""Does a chat with a million messages open as fast as one with a hundred?

One SQLite database (or --database) with two group chats, one of 100 messages and one of
--messages (1,000,000), written the way bench/search.py writes them; a reader in both. It opens
each chat's page (GET /chats/<id>, as the browser does, through the Flask test client signed in
as the reader) --repeat times and prints the median and p95 wall time and CPU, once with the
reader caught up and once with every message unread (the chat list then counts them).

    .venv/bin/python bench/chat_open.py
    .venv/bin/python bench/chat_open.py --messages 200000 --repeat 50
"""
import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import search  # noqa: E402  (its seeding helpers)
from sqlalchemy import text  # noqa: E402

SMALL = 100


def rows(small_chat: int, big_chat: int, big: int, author_ids: list[int]):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    n = 0
    for chat_id, count in ((small_chat, SMALL), (big_chat, big)):
        for seq in range(1, count + 1):
            n += 1
            yield chat_id, seq, author_ids[n % len(author_ids)], f"message {seq} of chat {chat_id}", \
                start + timedelta(seconds=n)


def time_page(client, path: str, repeat: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert response.status_code == 200, response.status_code
    return walls, cpus


def summary(values: list[float]) -> str:
    values = sorted(values)
    return f"median {statistics.median(values) * 1e3:6.1f} ms  p95 {values[int(len(values) * 0.95)] * 1e3:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the big chat")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    url = f"sqlite:///{tempfile.mkdtemp(prefix='webchat-chat-open-')}/bench.db"
    app = search.build_app(url)
    app.config.update(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    search.progress("migrating …")
    search.migrate(app)
    reader_id, (small_chat, big_chat), author_ids = search.seed_people_and_chats(app, chats=2, member_of=2)
    search.progress(f"writing {SMALL} + {args.messages:,} messages …")
    search.insert_sqlite(url, rows(small_chat, big_chat, args.messages, author_ids), SMALL + args.messages)
    search.finish_chats(app)

    from webchat.extensions import db
    client = app.test_client()
    response = client.post("/login", data={"username": "searcher", "password": "bench-password"})
    assert response.status_code == 302, "the reader could not sign in"
    for state, upto in (("caught up", "last_message_id"), ("all unread", "0")):
        with app.app_context():
            db.session.execute(text(
                f"UPDATE memberships SET last_read_message_id = (SELECT {upto} FROM chats WHERE id = chat_id)"
                " WHERE user_id = :reader"), {"reader": reader_id})
            db.session.commit()
        for name, chat_id, size in (("small", small_chat, SMALL), ("big", big_chat, args.messages)):
            time_page(client, f"/chats/{chat_id}", 3)  # warm
            walls, cpus = time_page(client, f"/chats/{chat_id}", args.repeat)
            print(f"{state:10s}  {name:5s} chat ({size:>9,} messages)  wall {summary(walls)}   CPU {summary(cpus)}")


if __name__ == "__main__":
    main()
