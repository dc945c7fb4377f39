"""CPU to store and announce one message, in process: what a socket's "send" frame costs the server
before a single byte is written to a recipient.

It runs the socket's send path from the frame's text (tab.TabSession.on_text: JSON, a request
context, the membership query, send_message —
validate, render Markdown, sanitize, store, commit, render the fragment once and frame it once —
and the sender's confirmation) against a fresh database, with --subscribers connections on the
chat's channel that only count what they are given (so the figure excludes the send syscalls,
which fanout.py and versus.py measure). It prints CPU µs per message (process_time: user + system
of this process; on PostgreSQL the server's own CPU is not in it) and the SQL statements per message.

    .venv/bin/python bench/send_cost.py                    # SQLite, 2,000 messages
    .venv/bin/python bench/send_cost.py --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/send_cost.py --profile 30       # also the 30 costliest functions (cProfile)
    .venv/bin/python bench/send_cost.py --together 10      # 10 sends arriving at once (group commit)
"""
import sys

if "--together" in sys.argv:  # sends arrive together only under gevent, as in the server
    from gevent import monkey

    monkey.patch_all()

import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text  # noqa: E402

from webchat import create_app  # noqa: E402
from webchat.database import DriverStatement  # noqa: E402
from webchat.extensions import db  # noqa: E402
from webchat.models import Chat, Membership, User  # noqa: E402
from webchat.realtime.hub import chat_channel  # noqa: E402
from webchat.socket.tab import TabSession  # noqa: E402

BODIES = {
    "rich": "Lunch at **noon**? The usual place — see https://example.com/menu and bring @member00001",
    "plain": "bench 123 1764160000000000000",  # what fanout.py and versus.py send
}


def articles_in(delivery) -> int:
    """How many messages a publication holds, counted once for all its subscribers: counting is the
    bench's work, not the server's, and must not grow with the subscribers."""
    if "articles" not in delivery.__dict__:
        delivery.__dict__["articles"] = delivery.text.count('<article id="m-')
    return delivery.__dict__["articles"]


class CountingConnection:
    """A subscriber that takes the shared frame and keeps nothing."""

    def __init__(self) -> None:
        self.messages = 0

    def deliver(self, delivery) -> None:
        delivery.frame  # noqa: B018  (built once per publication, as for real sockets)
        self.messages += articles_in(delivery)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file); its tables are dropped")
    parser.add_argument("--body", choices=sorted(BODIES), default="rich",
                        help="rich: Markdown, a link and a mention; plain: what the load benchmarks send")
    parser.add_argument("--profile", type=int, metavar="N", help="print the N costliest functions")
    parser.add_argument("--together", type=int, default=1, metavar="N",
                        help="N sends at a time, each in a greenlet of its own, as when N senders' frames arrive "
                             "in one turn of the event loop (stored together: chats.group_commit)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="webchat-send-cost-")
    url = args.database or f"sqlite:///{workdir}/bench.db"
    # The work budget is counted for every frame (its cost is in the figures) but never runs out.
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SEND_LIMIT": "1000000 per 1 second",
                      "WORK_PER_SECOND": 1e9, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"})
    with app.app_context():
        if args.database:
            with db.engine.begin() as conn:
                if db.engine.dialect.name == "postgresql":  # with the migrations' functions, which drop_all leaves
                    conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                else:
                    db.drop_all()
                    conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        from flask_migrate import upgrade
        upgrade()
        print(f"seeding {args.members} members…", file=sys.stderr)
        users = [User(username=f"member{i:05d}", display_name=f"Member {i}") for i in range(args.members)]
        for user in users:
            user.password_hash = "-"
        chat = Chat(kind="group", name="cost")
        chat.memberships.extend(Membership(user=u) for u in users)
        db.session.add(chat)
        db.session.commit()
        chat_id, sender_id = chat.id, users[0].id
        db.session.remove()

    statements = 0

    def count(*_args, **_kwargs):
        nonlocal statements
        statements += 1

    # The send path's own statements run on the driver's cursor (database.DriverStatement), where
    # SQLAlchemy's events do not see them: counted here.
    run_on_driver = DriverStatement.run

    def counted_on_driver(statement, dialect, connection, params):
        count()
        return run_on_driver(statement, dialect, connection, params)

    DriverStatement.run = counted_on_driver
    hub = app.extensions["webchat.hub"]
    sinks = [CountingConnection() for _ in range(args.subscribers)]
    for sink in sinks:
        hub.subscribe(chat_channel(chat_id), sink)

    with app.test_request_context("/socket"):
        event.listen(db.engine, "before_cursor_execute", count)
        tab = TabSession.__new__(TabSession)  # the frame handlers only, without a socket
        tab.user_id, tab.live = sender_id, app.extensions["webchat.live_state"]
        tab.budget = app.extensions.get("webchat.work_budget")
        tab.typist, tab.app = "member00000|Member 0", app
        tab._environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "wsgi.url_scheme": "http",
                        "HTTP_HOST": "127.0.0.1:8000", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000"}
        confirmations = []
        tab.conn = type("Confirmations", (), {"write": staticmethod(confirmations.append), "closed": False})()

        def send_one(i: int) -> None:
            tab.on_text(json.dumps({"type": "send", "chat": chat_id, "body": f"{BODIES[args.body]} {i}",
                                    "client_id": uuid.uuid4().hex}))

        def send(i: int) -> None:
            if args.together == 1:
                send_one(i)
                return
            import gevent

            gevent.joinall([gevent.spawn(send_one, i * args.together + j) for j in range(args.together)])

        for i in range(50):  # warm caches (compiled SQL, templates)
            send(i)
        statements, costs = 0, []
        profiler = cProfile.Profile() if args.profile else None
        start = time.perf_counter()
        for i in range(args.messages):
            began = time.process_time()
            if profiler:
                profiler.enable()
            send(i)
            if profiler:
                profiler.disable()
            costs.append((time.process_time() - began) / args.together)
            if i % 500 == 499:
                print(f"  {i + 1}/{args.messages} messages", file=sys.stderr)
        wall = time.perf_counter() - start
        event.remove(db.engine, "before_cursor_execute", count)

    everything = (args.messages + 50) * args.together  # the 50 warming up too
    assert all(s.messages == everything for s in sinks), "a subscriber missed a message"
    assert len(confirmations) == everything and b"error" not in confirmations[-1]
    sent = args.messages * args.together
    costs.sort()
    print(f"database: {url.split(':')[0]}   body: {args.body}   members: {args.members}   "
          f"subscribers: {args.subscribers}   messages: {args.messages * args.together}   "
          f"arriving together: {args.together}")
    print(f"CPU per message: mean {statistics.fmean(costs) * 1e6:.0f} µs, "
          f"median {costs[len(costs) // 2] * 1e6:.0f} µs, "
          f"p99 {costs[int(len(costs) * 0.99)] * 1e6:.0f} µs;  wall {wall / sent * 1e6:.0f} µs/message")
    print(f"SQL statements per message: {statements / sent:.1f}")
    if profiler:
        # Unlike the CPU time, this count does not move with the machine's load: the figure to
        # compare two commits on a noisy machine (the database's and nh3's own work are not in it).
        print(f"Python function calls per message: {pstats.Stats(profiler).total_calls / sent:,.0f}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    with app.app_context():
        if args.database:
            db.drop_all()


if __name__ == "__main__":
    main()
