"""The lookalike check of a new display name: its indexed lookup vs computing every user's skeleton.

    .venv/bin/python bench/lookalike.py                   # SQLite, 10,000 and 100,000 users
    .venv/bin/python bench/lookalike.py --users 1000 50000 --postgres

For each count it makes a fresh database with the real migrations (SQLite: a file in a temp dir;
with --postgres also database `bench_lookalike` on 127.0.0.1:5432, dropped first), inserts that
many users with made-up names and their skeletons, then times, as registration would run them:
  name_skeleton()   one display name's skeleton (text_rules.name_skeleton);
  indexed lookup    accounts.lookalike(): one query on users.display_skeleton/username_skeleton;
  scan              the alternative: read every user's names and compute their skeletons.
Median of --repeat runs, in milliseconds; progress to stderr, the table to stdout.
"""
import argparse
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from webchat import create_app  # noqa: E402
from webchat.core import accounts  # noqa: E402
from webchat.extensions import db  # noqa: E402
from webchat.models import User  # noqa: E402
from webchat.text_rules import name_skeleton  # noqa: E402

FIRST = ["Alice", "Bob", "Carol", "Dana", "Émile", "Ğül", "Иван", "Σοφία", "明", "Zoë", "Łukasz", "Nnamdi"]


def made_up_users(count: int, rng: random.Random):
    for i in range(count):
        username = f"u{i:07d}"
        display = f"{rng.choice(FIRST)} {''.join(rng.choices(string.ascii_lowercase, k=7)).title()} {i}"
        yield {"username": username, "display_name": display, "password_hash": "-", "session_token": "t",
               "is_active_account": True, "hide_system_messages": False, "hide_presence": False,
               "send_read_receipts": True, "username_skeleton": name_skeleton(username),
               "display_skeleton": name_skeleton(display)}


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def measure(url: str, count: int, repeat: int) -> dict[str, float]:
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
        rng = random.Random(1)
        rows = list(made_up_users(count, rng))
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(User), rows[start:start + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE users"))  # as autovacuum would after a bulk insert
            db.session.commit()
        name = "Аlice Archer"  # a Cyrillic А

        def scan():
            wanted = name_skeleton(name)
            for username, display in db.session.execute(select(User.username, User.display_name)):
                if wanted in (name_skeleton(username), name_skeleton(display)):
                    break

        result = {"name_skeleton()": timed(lambda: name_skeleton(name), repeat * 10),
                  "indexed lookup": timed(lambda: accounts.lookalike(name), repeat),
                  "scan": timed(scan, max(3, repeat // 10))}
        db.session.remove()
        db.engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    name_skeleton("warm up")  # the confusables table is built once per process
    print(f"{'backend':10} {'users':>8} {'name_skeleton() ms':>19} {'indexed lookup ms':>18} {'scan ms':>10}")
    for count in args.users:
        backends = [("sqlite", None)] + ([("postgresql", "postgresql://postgres@127.0.0.1:5432")]
                                         if args.postgres else [])
        for backend, server in backends:
            print(f"{backend}: {count} users…", file=sys.stderr)
            if server:
                admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text("DROP DATABASE IF EXISTS bench_lookalike"))
                    conn.execute(text("CREATE DATABASE bench_lookalike"))
                admin.dispose()
                result = measure(f"{server}/bench_lookalike", count, args.repeat)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    result = measure(f"sqlite:///{tmp}/bench.db", count, args.repeat)
            print(f"{backend:10} {count:>8} {result['name_skeleton()']:>19.3f} {result['indexed lookup']:>18.3f} "
                  f"{result['scan']:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
