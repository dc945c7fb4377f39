"""CPU to decide who is notified of one message in a big chat, in process: the notifier's take_queued()
(core/notifier.py), which every stored message costs its worker off the send path.

A fresh database (migrated) with one chat of --members members; --viewing of them (a fraction) have
the chat in view in a visible tab, the rest an open tab on another chat (so they are online and
get a desktop notification of each message, as the rule says). --messages messages are stored
first (their cost is not counted); then take_queued() runs until the queue is empty, and the
bench prints the CPU per message (process_time: this process; the database's and Redis's own CPU
are not in it), the SQL statements per message and the notifications written.

    .venv/bin/python bench/notify_cost.py                          # SQLite, 1,000 members, all viewing
    .venv/bin/python bench/notify_cost.py --viewing 0.5
    .venv/bin/python bench/notify_cost.py --redis redis://127.0.0.1:6379/0 --database postgresql://postgres@127.0.0.1:5432/notify_bench
    .venv/bin/python bench/notify_cost.py --profile 25
"""
import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select, text  # noqa: E402

from webchat import create_app  # noqa: E402
from webchat.core import messaging, notifier  # noqa: E402
from webchat.extensions import db  # noqa: E402
from webchat.models import Chat, Membership, Notification, User  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--viewing", type=float, default=1.0, help="the fraction of members with the chat in view")
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file); its tables are dropped")
    parser.add_argument("--redis", help="a Redis URL: the live state in Redis (as with several workers)")
    parser.add_argument("--profile", type=int, metavar="N", help="print the N costliest functions")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="webchat-notify-cost-")
    config = {"SQLALCHEMY_DATABASE_URI": args.database or f"sqlite:///{workdir}/bench.db", "NOTIFIER": "off",
              "SEND_LIMIT": "1000000 per 1 second", "WORK_PER_SECOND": 1e9, "REDIS_URL": args.redis}
    app = create_app(config)
    with app.app_context():
        if args.database:
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        from flask_migrate import upgrade
        upgrade()
        offset = 900_000_000 if args.database else 0  # Redis keys are named by id: keep clear of other runs
        if offset:
            for table in ("users", "chats"):
                db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {offset})"))
        users = [User(username=f"member{i:05d}", display_name=f"Member {i}", password_hash="-")
                 for i in range(args.members)]
        chat, elsewhere = Chat(kind="group", name="notify"), Chat(kind="group", name="elsewhere")
        chat.memberships.extend(Membership(user=u) for u in users)
        db.session.add_all([chat, elsewhere])
        db.session.commit()
        user_ids, chat_id, elsewhere_id = [u.id for u in users], chat.id, elsewhere.id
        live = app.extensions["webchat.live_state"]
        viewing = int(args.members * args.viewing)
        for i, user_id in enumerate(user_ids):
            live.tab_opened(user_id, f"tab{user_id}")
            live.set_view(user_id, f"tab{user_id}", str(chat_id if i < viewing else elsewhere_id))
        sender = db.session.scalar(select(Membership).where(Membership.chat_id == chat_id,
                                                            Membership.user_id == user_ids[0]))
        with app.test_request_context("/"):
            for i in range(args.messages):
                messaging.send_message(sender, f"notify bench {i}", None)
        db.session.remove()

        statements = 0

        def count(*_args, **_kwargs):
            nonlocal statements
            statements += 1

        event.listen(db.engine, "before_cursor_execute", count)
        profile = cProfile.Profile() if args.profile else None
        taken, started = 0, time.process_time()
        with app.test_request_context("/"):
            if profile:
                profile.enable()
            while True:
                done = notifier.take_queued()
                if not done:
                    break
                taken += done
            if profile:
                profile.disable()
        cpu = time.process_time() - started
        written = db.session.scalar(select(func.count()).select_from(Notification))
        for user_id in user_ids:
            live.tab_closed(user_id, f"tab{user_id}")
        db.session.remove()
    print(f"database: {config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}   "
          f"live state: {'redis' if args.redis else 'in-process'}   members: {args.members}   "
          f"viewing: {viewing}   messages: {taken}")
    print(f"CPU per message decided: {cpu / max(taken, 1) * 1e6:,.0f} µs   "
          f"SQL statements per message: {statements / max(taken, 1):.1f}   "
          f"notifications written: {written:,} ({written / max(taken, 1):.0f} per message)")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
