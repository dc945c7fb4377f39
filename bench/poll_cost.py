"""CPU of an idle poll (a page asking "anything after N?" when nothing is new) and of a chat's page.

In process: a fresh SQLite database (or --database), a group chat of --members with 50 messages
(plain lines and real sentences: punctuation, a link, a mention, a code span), one of them edited
(so the page's change cursor is not 0). A member signed in through the login form (the session
cookie as a browser holds it). Each request is the WSGI call itself, `app(environ, start_response)`
with the body read: the environ is built before the clock starts, so no test-client cost is in the
figure (gunicorn's HTTP parsing and socket writes are not either). Measured with process_time
(user + system CPU of this process; on PostgreSQL the server's own CPU is not in it).

  - the poll: GET /chats/<id>/messages?after=<newest>&changes=<cursor> as the page's #poller sends
    it (htmx headers), every one finding nothing new;
  - the chat list, which the page polls with it: GET /chats/list naming the version the list
    shows (its Chat-List-Version header), every one finding nothing changed (204), and without a
    version (the one chat, the list rendered in full as when something changed);
  - the chat page: GET /chats/<id> (the full page, and the pane alone as htmx navigation asks).

It prints CPU µs per request (median, mean), SQL statements per request and how many of them read
the messages table; --profile N adds the N costliest functions of the polls (cProfile).

    .venv/bin/python bench/poll_cost.py
    .venv/bin/python bench/poll_cost.py --database postgresql://postgres@127.0.0.1:5432/polls_bench
    .venv/bin/python bench/poll_cost.py --profile 25
"""
import argparse
import cProfile
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from webchat import create_app  # noqa: E402
from webchat.database import DriverStatement  # noqa: E402
from webchat.extensions import db  # noqa: E402
from webchat.models import Chat, Membership, User  # noqa: E402

LINES = [
    "ok",
    "Thanks! See you at 10:30.",
    "The build is green again — https://ci.example.com/builds/1234 (took 12 min).",
    "@member00001 can you look at `handle_frame()` before lunch?",
    "deploying now",
    "Hmm… the graph dips at ~14:00; probably the cache warm-up. :thinking:",
    "Agreed.\nLet's ship it on Monday.",
    "lunch",
]
CSRF_META = re.compile(r'name="csrf_token" value="([^"]+)"')
# The browser that signed in (the test client's address and agent): the sign-in's own, so its
# session cookie stays as it is (flask-login's session protection).
BROWSER = {"REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": "bench"}
LIST_VERSION = re.compile(r'id="chat-list"[^>]*hx-headers="{&#34;Chat-List-Version&#34;: &#34;([0-9a-f]+)&#34;}"')
MESSAGES_TABLE = re.compile(r"\bFROM messages\b|\bJOIN messages\b", re.IGNORECASE)


def fresh_schema(app, url_given: bool) -> None:
    with app.app_context():
        if url_given:
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
                if db.engine.dialect.name == "postgresql":  # migrations 0008's and 0009's, which drop_all leaves
                    conn.execute(text("DROP FUNCTION IF EXISTS messages_after_insert() CASCADE"))
                    conn.execute(text("DROP FUNCTION IF EXISTS message_search_vector(bigint, text) CASCADE"))
        from flask_migrate import upgrade
        upgrade()


def seed(app, members: int) -> int:
    with app.app_context():
        users = [User(username=f"member{i:05d}", display_name=f"Member {i}") for i in range(members)]
        for user in users:
            user.set_password("password123")
        chat = Chat(kind="group", name="poll-cost")
        chat.memberships.extend(Membership(user=u) for u in users)
        db.session.add(chat)
        db.session.commit()
        return chat.id


def signed_in(app, username: str):
    client = app.test_client()
    client.environ_base.update(BROWSER)
    token = CSRF_META.search(client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post("/login", data={"username": username, "password": "password123", "csrf_token": token})
    assert answer.status_code == 302, answer.status_code
    return client


def csrf_of(client) -> str:
    return CSRF_META.search(client.get("/settings").get_data(as_text=True)).group(1)


class Counter:
    """SQL statements run (SQLAlchemy's, and those on the driver's cursor: database.DriverStatement)."""

    def __init__(self, engine) -> None:
        self.statements, self.message_reads = 0, 0
        self.log = None  # a list to keep the statements in (--statements)
        event.listen(engine, "before_cursor_execute", self.seen)
        # Every statement on the driver's cursor runs through DriverStatement.run (rows() too).
        run_on_driver = DriverStatement.run
        texts = {}  # compiled once per statement, as DriverStatement compiles them

        def counted_on_driver(statement, dialect, dbapi_connection, params):
            if statement not in texts:
                texts[statement] = str(statement.statement)
            self.seen(None, None, texts[statement], None, None, None)
            return run_on_driver(statement, dialect, dbapi_connection, params)

        DriverStatement.run = counted_on_driver

    def seen(self, _conn, _cursor, statement, *_rest) -> None:
        self.statements += 1
        if self.log is not None:
            self.log.append(statement)
        if MESSAGES_TABLE.search(statement):
            self.message_reads += 1


def call(app, environ: dict) -> tuple[str, bytes]:
    status = []
    body = app(environ, lambda s, _headers, _exc=None: status.append(s))
    try:
        data = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return status[0], data


def measure(app, counter: Counter, builder_args: dict, cookie: str, n: int, profiler=None):
    """CPU seconds of n requests (sorted), statements and message-table reads per request, the last body."""
    costs, data, status = [], b"", ""
    before_statements, before_reads = counter.statements, counter.message_reads
    for _ in range(n):
        environ = EnvironBuilder(**{**builder_args, "headers": {**builder_args["headers"], "Cookie": cookie}},
                                 environ_base=BROWSER).get_environ()
        began = time.process_time()
        if profiler:
            profiler.enable()
        status, data = call(app, environ)
        if profiler:
            profiler.disable()
        costs.append(time.process_time() - began)
        assert status.startswith(("200", "204")), (status, data[:300])
    costs.sort()
    return costs, (counter.statements - before_statements) / n, (counter.message_reads - before_reads) / n, \
        status, data


def line(label: str, costs, statements, reads, status, data) -> str:
    return (f"{label:<30} CPU median {statistics.median(costs) * 1e6:7.0f} µs"
            f"  mean {statistics.fmean(costs) * 1e6:7.0f} µs"
            f"  p90 {costs[int(len(costs) * 0.9)] * 1e6:7.0f} µs   SQL {statements:.1f}/request"
            f" (messages table {reads:.1f})   answer {status.split()[0]}, {len(data):,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file); its tables are dropped")
    parser.add_argument("--profile", type=int, metavar="N", help="print the N costliest functions of the polls")
    parser.add_argument("--profile-page", action="store_true", help="profile the chat page instead of the polls")
    parser.add_argument("--statements", action="store_true", help="print the SQL of one poll and one chat page")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="webchat-poll-cost-")
    url = args.database or f"sqlite:///{workdir}/bench.db"
    # Budgets counted as in production (their cost is in the figures), but never running out.
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SEND_LIMIT": "1000000 per 1 second", "SECRET_KEY": "bench",
                      "WORK_PER_SECOND": 1e9, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"})
    fresh_schema(app, bool(args.database))
    chat_id = seed(app, args.members)
    me, other = signed_in(app, "member00000"), signed_in(app, "member00001")
    for i in range(50):
        client = me if i % 3 == 0 else other
        form = {"body": f"{LINES[i % len(LINES)]} {i}", "client_id": f"{i:032x}", "csrf_token": csrf_of(client)}
        answer = client.post(f"/chats/{chat_id}/messages", data=form)
        assert answer.status_code in (200, 302), answer.status_code
    with app.app_context():
        chat = db.session.get(Chat, chat_id)
        newest, cursor = chat.last_message_id, chat.last_change_seq
        first = chat.last_message_id - 49
    answer = me.post(f"/chats/{chat_id}/messages/{first}/edit", data={"body": "ok (edited)", "csrf_token": csrf_of(me)})
    assert answer.status_code in (200, 302), answer.status_code
    with app.app_context():
        cursor = db.session.get(Chat, chat_id).last_change_seq
        assert cursor > 0
    cookie = "; ".join(f"{c.key}={c.value}" for c in me._cookies.values())

    with app.app_context():
        counter = Counter(db.engine)
    poll = {"path": f"/chats/{chat_id}/messages", "query_string": {"after": newest, "changes": cursor},
            "headers": {"HX-Request": "true", "HX-Trigger": "poller", "HX-Target": "messages",
                        "HX-Current-URL": f"http://localhost/chats/{chat_id}", "Accept": "*/*"}}
    chat_list = {"path": "/chats/list", "headers": {"HX-Request": "true", "HX-Trigger": "chat-list",
                                                    "HX-Target": "chat-list", "Accept": "*/*"}}
    version = LIST_VERSION.search(me.get("/chats/list").get_data(as_text=True)).group(1)
    idle_list = {**chat_list, "headers": {**chat_list["headers"], "Chat-List-Version": version}}
    page = {"path": f"/chats/{chat_id}", "headers": {"Accept": "text/html"}}
    pane = {"path": f"/chats/{chat_id}", "headers": {"HX-Request": "true", "HX-Target": "chat-pane",
                                                    "HX-Current-URL": "http://localhost/", "Accept": "*/*"}}
    measure(app, counter, poll, cookie, 200)  # warm up: compiled SQL, templates
    measure(app, counter, page, cookie, 20)
    measure(app, counter, pane, cookie, 20)
    if args.statements:
        for label, request in (("poll", poll), ("chat page", page)):
            counter.log = []
            measure(app, counter, request, cookie, 1)
            print(f"--- {label}: {len(counter.log)} statements")
            for statement in counter.log:
                print("   ", " ".join(statement.split())[:160])
        counter.log = None
    profiler = cProfile.Profile() if args.profile else None
    polls = measure(app, counter, poll, cookie, args.polls, None if args.profile_page else profiler)
    idle_lists = measure(app, counter, idle_list, cookie, args.polls)
    lists = measure(app, counter, chat_list, cookie, args.pages)
    pages = measure(app, counter, page, cookie, args.pages, profiler if args.profile_page else None)
    panes = measure(app, counter, pane, cookie, args.pages)
    page_messages = pages[4].count(b'<article id="m-')
    print(f"database: {url.split(':')[0]}   members: {args.members}   polls: {args.polls}   pages: {args.pages}")
    print(line("idle poll (nothing new)", *polls))
    print(line("idle list poll (nothing new)", *idle_lists))
    print(line("chat list poll (1 chat)", *lists))
    print(line(f"chat page ({page_messages} messages)", *pages))
    print(line("chat pane (htmx navigation)", *panes))
    if profiler:
        what, count = ("page", args.pages) if args.profile_page else ("poll", args.polls)
        print(f"Python function calls per {what}: {pstats.Stats(profiler).total_calls / count:,.0f}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    if args.database:
        with app.app_context():
            db.drop_all()


if __name__ == "__main__":
    main()
