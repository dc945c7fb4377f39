"""Seed a fresh benchmark database: N members, one sender, one group chat with all of them.

Run by fanout.py in a subprocess with the server's environment (DATABASE_URL,
WEBCHAT_INSTANCE_PATH, PYTHONPATH=<app snapshot>) after `flask db upgrade`; prints one JSON line:
{"chat": <id>, "newest": <newest message id>, "members": [...], "sender": "...", "idle": [...]}.
--idle K adds K users in no chat (fanout.py's --idle-sockets).

On PostgreSQL the user and chat ids start at a random offset: Redis channels and presence keys
are named by id ("webchat:chat:<id>", "webchat:tabs:<user id>"), and the machine's Redis may be
shared with other runs whose fresh databases also start at id 1.
Not meant to be run by hand, but harmless: it refuses a database that already has users.
"""
import argparse
import json
import sys
from pathlib import Path

# fanout.py puts the app snapshot it serves on PYTHONPATH; run by hand, this checkout is used.
sys.path.append(str(Path(__file__).resolve().parent.parent))

import random  # noqa: E402

from sqlalchemy import func, select, text  # noqa: E402

from webchat import create_app  # noqa: E402
from webchat.extensions import db  # noqa: E402
from webchat.models import Chat, Membership, User  # noqa: E402

FAST_HASH = "pbkdf2:sha256:1000"


def seed(members: int, password: str, idle: int = 0) -> dict:
    app = create_app({"PASSWORD_HASH_METHOD": FAST_HASH})
    with app.app_context():
        if db.session.scalar(select(func.count()).select_from(User)):
            raise SystemExit("seed.py: this database already has users; use a fresh one")
        if db.engine.dialect.name == "postgresql":
            offset = random.randrange(10_000_000, 1_000_000_000, 1_000_000)
            for table in (User.__tablename__, Chat.__tablename__):
                db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {offset})"))
        names = [f"member{i:05d}" for i in range(members)]
        sender = User(username="bench-sender", display_name="Bench Sender")
        sender.set_password(password)
        users = [sender]
        for name in names:
            user = User(username=name, display_name=name.capitalize())
            user.set_password(password)
            users.append(user)
        db.session.add_all(users)
        db.session.flush()
        chat = Chat(kind="group", name=f"bench fan-out ({members} members)")
        chat.memberships.append(Membership(user=sender, role="admin"))
        chat.memberships.extend(Membership(user=u) for u in users[1:])
        db.session.add(chat)
        idle_names = [f"idle{i:05d}" for i in range(idle)]
        for name in idle_names:
            user = User(username=name, display_name=name.capitalize())
            user.set_password(password)
            db.session.add(user)
        db.session.commit()
        return {"chat": chat.id, "newest": chat.last_message_id, "members": names, "sender": sender.username,
                "idle": idle_names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, required=True)
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    print(json.dumps(seed(args.members, args.password, args.idle)))


if __name__ == "__main__":
    main()
