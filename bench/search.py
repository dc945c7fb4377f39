"""Search over a million messages: how long search_messages() takes on SQLite and PostgreSQL.

    .venv/bin/python bench/search.py                       # both databases, 1,000,000 messages
    .venv/bin/python bench/search.py --backend sqlite --messages 200000
    .venv/bin/python bench/search.py --keep                # keep the databases (reused by --reuse)
    .venv/bin/python bench/search.py --reuse --upgrade     # apply new migrations to them, then time

For each backend it makes a fresh database with the real migrations (SQLite: a file in a temp
dir; PostgreSQL: database `bench_search` on 127.0.0.1:5432, dropped first), bulk-inserts
--messages messages spread over --chats group chats (SQLite: executemany in one transaction per
batch, so the FTS5 triggers index every row as the app's inserts do; PostgreSQL: COPY, the stored
tsvector computed per row), then times search_messages() — the function the /search page calls,
snippets and result loading included, page rendering not — as a user who is a member of
--member-of of the chats, for typical searches. Progress goes to stderr, the table to stdout.

Text: words drawn from a Zipf-like vocabulary of 20,000 made-up words plus a few planted ones:
"deploy"/"deployment"/"deployed" (~0.5% of messages), "friday" (~1%), "kumquat" (~40 messages),
"zebrafish" (~3% of the messages of chats the searcher is NOT in: many matches none of which may
be shown). Its time beside that of "xylophonist" (in no message) shows whether a search's cost
tells anything of other people's chats: the ranges should overlap.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

QUERIES = [
    ("common word", "the"),
    ("two common words", "the and"),
    ("medium word", "friday"),
    ("rare word", "kumquat"),
    ("prefix (typing)", "deplo"),
    ("two words, last a prefix", "friday dep"),
    ("only in others' chats", "zebrafish"),
    ("no match", "xylophonist"),
    ("others' chats, whole word", "zebrafish."),
    ("no match, whole word", "xylophonist."),
]
BATCH = 20_000


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Corpus:
    """Deterministic made-up chat text with a few planted words of known frequency."""

    COMMON = ("the", "and", "to", "a", "of", "is", "in", "it", "you", "that", "for", "on", "we", "this", "be",
              "at", "with", "can", "have", "are", "not", "just", "so", "if", "do", "what", "about", "will", "but",
              "up", "out", "all", "get", "like", "ok", "yes", "no", "my", "me")

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        syllables = ["ka", "lo", "mi", "ten", "ra", "vo", "sul", "ne", "pi", "dor", "ex", "qua", "bri", "tan", "fel"]
        words = set()
        while len(words) < 20_000:
            words.add("".join(self.rng.choice(syllables) for _ in range(self.rng.randint(2, 4))))
        self.words = list(self.COMMON) + sorted(words)
        weights = [1 / (rank + 1) for rank in range(len(self.words))]
        total = 0.0
        self.cumulative = []
        for w in weights:
            total += w
            self.cumulative.append(total)

    def message(self, in_members_chat: bool) -> str:
        rng = self.rng
        picks = rng.choices(self.words, cum_weights=self.cumulative, k=rng.randint(3, 24))
        roll = rng.random()
        if roll < 0.005:
            picks.insert(rng.randrange(len(picks) + 1), rng.choice(("deploy", "deployment", "deployed")))
        elif roll < 0.015:
            picks.insert(rng.randrange(len(picks) + 1), "friday")
        elif roll < 0.01504:
            picks.insert(rng.randrange(len(picks) + 1), "kumquat")
        if not in_members_chat and rng.random() < 0.03:
            picks.insert(rng.randrange(len(picks) + 1), "zebrafish")
        text_ = " ".join(picks)
        return text_[0].upper() + text_[1:]


def build_app(url: str):
    from webchat import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})


def migrate(app) -> None:
    from flask_migrate import upgrade

    from webchat.extensions import db
    with app.app_context():
        upgrade()
        db.engine.dispose()


def seed_people_and_chats(app, chats: int, member_of: int) -> tuple[int, list[int], list[int]]:
    """A searcher in member_of of the chats, 30 other authors in all of them. Returns ids."""
    from webchat.extensions import db
    from webchat.models import Chat, Membership, User
    with app.app_context():
        searcher = User(username="searcher", display_name="Searcher")
        searcher.set_password("bench-password")
        authors = []
        for i in range(30):
            author = User(username=f"author{i:02d}", display_name=f"Author {i}")
            author.set_password("bench-password")
            authors.append(author)
        db.session.add_all([searcher, *authors])
        db.session.flush()
        chat_rows = []
        for i in range(chats):
            chat = Chat(kind="group", name=f"Bench chat {i}")
            chat.memberships.extend(Membership(user=a) for a in authors)
            if i < member_of:
                chat.memberships.append(Membership(user=searcher))
            chat_rows.append(chat)
        db.session.add_all(chat_rows)
        db.session.commit()
        return searcher.id, [c.id for c in chat_rows], [a.id for a in authors]


def message_rows(total: int, chat_ids: list[int], member_chats: set[int], author_ids: list[int]):
    """(chat_id, seq, author_id, body, created_at) in id order, spread evenly over the chats."""
    corpus = Corpus()
    rng = random.Random(11)
    seq = dict.fromkeys(chat_ids, 0)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(total):
        chat_id = chat_ids[rng.randrange(len(chat_ids))]
        seq[chat_id] += 1
        yield (chat_id, seq[chat_id], rng.choice(author_ids), corpus.message(chat_id in member_chats),
               start + timedelta(seconds=20 * n))


def insert_sqlite(url: str, rows, total: int) -> None:
    import sqlite3

    from webchat.database import register_search_words
    conn = sqlite3.connect(make_url(url).database)
    register_search_words(conn)  # the search index's triggers call it (migration 0009)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sql = ("INSERT INTO messages (chat_id, seq, kind, author_id, body, html, mentions, created_at, change_seq) "
           "VALUES (?, ?, 'user', ?, ?, ?, '', ?, 0)")
    started, done, batch = time.perf_counter(), 0, []
    for chat_id, seq, author_id, body, created in rows:
        batch.append((chat_id, seq, author_id, body, f"<p>{body}</p>", created.strftime("%Y-%m-%d %H:%M:%S.%f")))
        if len(batch) == BATCH:
            done += _flush_sqlite(conn, sql, batch)
            _report(done, total, started)
    done += _flush_sqlite(conn, sql, batch)
    _report(done, total, started)
    conn.close()


def _flush_sqlite(conn, sql, batch) -> int:
    with conn:
        conn.executemany(sql, batch)
    count = len(batch)
    batch.clear()
    return count


def insert_postgresql(app, rows, total: int) -> None:
    from webchat.extensions import db
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            conn = raw.driver_connection
            started, done = time.perf_counter(), 0
            with conn.cursor() as cur:
                columns = "chat_id, seq, kind, author_id, body, html, mentions, created_at, change_seq"
                with cur.copy(f"COPY messages ({columns}) FROM STDIN") as copy:
                    for chat_id, seq, author_id, body, created in rows:
                        copy.write_row((chat_id, seq, "user", author_id, body, f"<p>{body}</p>", "", created, 0))
                        done += 1
                        if done % BATCH == 0:
                            _report(done, total, started)
            conn.commit()
            _report(done, total, started)
            progress("  ANALYZE messages …")
            conn.autocommit = True
            conn.execute("ANALYZE messages")
        finally:
            raw.close()


def _report(done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed else 0
    eta = (total - done) / rate if rate else 0
    progress(f"  {done:>9,} / {total:,} messages  {rate:,.0f}/s  eta {eta:,.0f} s")


def finish_chats(app) -> None:
    from webchat.extensions import db
    with app.app_context():
        db.session.execute(text(
            # Each chat's newest message id was set by the insert trigger (migration 0008).
            "UPDATE chats SET"
            " last_seq = (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE messages.chat_id = chats.id)"))
        db.session.commit()


def time_searches(app, searcher_id: int, repeat: int) -> list[dict]:
    from webchat.core.search import search_messages
    from webchat.extensions import db
    from webchat.models import User
    results = []
    with app.app_context():
        user = db.session.get(User, searcher_id)
        for label, query in QUERIES:
            times, hits = [], 0
            first = None
            for i in range(repeat + 1):
                started = time.perf_counter()
                page = search_messages(user, query, 20)
                elapsed = (time.perf_counter() - started) * 1000
                db.session.expunge_all()
                user = db.session.get(User, searcher_id)
                if i == 0:
                    first, hits = elapsed, len(page.hits)
                else:
                    times.append(elapsed)
            if page.more_before:  # the next page of results, as "More results" asks
                started = time.perf_counter()
                search_messages(user, query, 20, before=page.more_before)
                next_page = (time.perf_counter() - started) * 1000
            else:
                next_page = None
            times.sort()
            results.append({"label": label, "query": query, "hits": hits, "first": first,
                            "median": statistics.median(times),
                            "min": times[0], "max": times[-1], "p95": times[max(0, round(0.95 * len(times)) - 1)],
                            "next_page": next_page})
            progress(f"  {label}: median {results[-1]['median']:.1f} ms")
    return results


def matching_counts(app, searcher_id: int) -> dict[str, tuple[int, int]]:
    """For the table: how many messages match each search in all chats and in the searcher's.

    A LIKE scan over the whole table (the made-up text is lower-case words and spaces)."""
    from webchat.core.search import parse_query
    from webchat.extensions import db
    counts = {}
    with app.app_context():
        for _, query in QUERIES:
            parsed = parse_query(query)
            patterns = {f"w{i}": f"% {word.rstrip('.')} %" for i, word in enumerate(parsed.terms)}
            if parsed.prefix:
                patterns[f"w{len(parsed.terms) - 1}"] = f"% {parsed.terms[-1]}%"
            where = " AND ".join(f"' ' || lower(body) || ' ' LIKE :{name}" for name in patterns)
            row = db.session.execute(text(
                "SELECT count(*), count(*) FILTER (WHERE chat_id IN "
                f"(SELECT chat_id FROM memberships WHERE user_id = :u)) FROM messages WHERE {where}"),
                {"u": searcher_id, **patterns}).one()
            counts[query] = (row[0], row[1])
    return counts


def run(backend: str, args) -> tuple[list[dict], dict]:
    progress(f"== {backend}: {args.messages:,} messages over {args.chats} chats, searcher in {args.member_of}")
    if backend == "sqlite":
        folder = Path(args.sqlite_dir or tempfile.mkdtemp(prefix="bench-search-"))
        url = f"sqlite:///{folder / 'search.db'}"
        fresh = not (args.reuse and (folder / "search.db").exists())
        if fresh and (folder / "search.db").exists():
            (folder / "search.db").unlink()
    else:
        admin_url = make_url(args.postgres).set(drivername="postgresql+psycopg")
        url = admin_url.set(database=args.pg_database).render_as_string(hide_password=False)
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": args.pg_database}).first()
            fresh = not (args.reuse and exists)
            if fresh:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{args.pg_database}"'))
    app = build_app(url)
    build_seconds = None
    if fresh:
        migrate(app)
        searcher_id, chat_ids, author_ids = seed_people_and_chats(app, args.chats, args.member_of)
        rows = message_rows(args.messages, chat_ids, set(chat_ids[:args.member_of]), author_ids)
        started = time.perf_counter()
        if backend == "sqlite":
            insert_sqlite(url, rows, args.messages)
        else:
            insert_postgresql(app, rows, args.messages)
        build_seconds = time.perf_counter() - started
        finish_chats(app)
    else:
        progress("  reusing the existing database")
        if args.upgrade:
            started = time.perf_counter()
            migrate(app)
            progress(f"  migrations applied in {time.perf_counter() - started:.0f} s")
            if backend == "postgresql":
                with app.app_context():
                    from webchat.extensions import db
                    db.session.execute(text("ANALYZE messages"))
                    db.session.commit()
        with app.app_context():
            from webchat.extensions import db
            searcher_id = db.session.execute(text("SELECT id FROM users WHERE username = 'searcher'")).scalar_one()
    info = {"url": url, "build_seconds": build_seconds, "size": database_size(app, backend, url)}
    if not args.no_counts:
        progress("  counting matches (LIKE scan, for the table only) …")
        info["counts"] = matching_counts(app, searcher_id)
    progress("  timing searches …")
    results = time_searches(app, searcher_id, args.repeat)
    with app.app_context():
        from webchat.extensions import db
        db.engine.dispose()
    if backend == "postgresql":
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)'))
        admin.dispose()
    elif not args.keep and not args.sqlite_dir:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    return results, info


def database_size(app, backend: str, url: str) -> str:
    from webchat.extensions import db
    with app.app_context():
        if backend == "sqlite":
            path = Path(make_url(url).database)
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        else:
            size = db.session.execute(text("SELECT pg_database_size(current_database())")).scalar()
    return f"{size / 2**20:,.0f} MiB"


def print_table(backend: str, results: list[dict], info: dict) -> None:
    built = f", built in {info['build_seconds']:.0f} s" if info["build_seconds"] else ""
    print(f"\n{backend}: database {info['size']}{built}")
    print(f"{'search':<27} {'query':<12} {'matches all/mine':>18} {'shown':>5} {'first ms':>9} "
          f"{'median ms':>9} {'range ms':>11} {'p95 ms':>7} {'next page ms':>12}")
    for r in results:
        counts = info.get("counts", {}).get(r["query"])
        matches = f"{counts[0]:,}/{counts[1]:,}" if counts else "-"
        next_page = f"{r['next_page']:.1f}" if r["next_page"] is not None else "-"
        print(f"{r['label']:<27} {r['query']:<12} {matches:>18} {r['hits']:>5} {r['first']:>9.1f} "
              f"{r['median']:>9.1f} {r['min']:>5.1f}–{r['max']:<5.1f} {r['p95']:>7.1f} {next_page:>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--member-of", type=int, default=4, help="chats the searcher is in (of --chats)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per search (after one untimed)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-database", default="bench_search")
    parser.add_argument("--sqlite-dir", help="where to put search.db (default: a temp dir, deleted)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--reuse", action="store_true", help="search an existing database (--keep'd) again")
    parser.add_argument("--upgrade", action="store_true", help="with --reuse: apply new migrations first")
    parser.add_argument("--no-counts", action="store_true", help="skip the LIKE scan that counts matches")
    args = parser.parse_args()
    os.environ.setdefault("WEBCHAT_INSTANCE_PATH", tempfile.mkdtemp(prefix="bench-search-instance-"))
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        load_before = Path("/proc/loadavg").read_text().split()[0]
        results, info = run(backend, args)
        print(f"\n(1-minute load average {load_before} when {backend} started, "
              f"{Path('/proc/loadavg').read_text().split()[0]} at the end; {os.cpu_count()} cores)")
        print_table(backend, results, info)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
