"""What a live server has stored, read straight from its database (SQLite file or PostgreSQL).

Tests that send hostile input to a served app compare rows_about() before and after: every row
of every table that belongs to one chat (or to its messages) or to the named users. Tables added
later are covered by their columns (chat_id, message_id, user_id) without changes here.
"""
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData, create_engine, select, text

from .services import ROOT

# Columns that move without anyone doing anything (a socket closing sets last seen).
VOLATILE = {("users", "last_seen_at")}


@contextmanager
def audit_log_writable(conn):
    """Lift the audit log's append-only triggers (migration 0013) for this connection's transaction,
    so a test's tables can be emptied for the next test."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off (superuser)
        yield
        return
    triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                 "AND tbl_name = 'audit_events'")).all()
    for name, _ in triggers:
        conn.execute(text(f"DROP TRIGGER {name}"))
    yield
    for _, sql in triggers:
        conn.execute(text(sql))


class LiveDatabase:
    def __init__(self, server) -> None:
        self.engine = create_engine(server.env["DATABASE_URL"])
        self.metadata = MetaData()
        # Not SQLite's full-text index tables (migration 0005): virtual, and never about one chat.
        self.metadata.reflect(self.engine, only=lambda name, _: not name.startswith(("messages_fts", "sqlite_"))
                              and name != "alembic_version")

    def rows_about(self, chat_id: int, usernames) -> dict[str, list[tuple]]:
        tables = self.metadata.tables
        users, messages = tables["users"], tables["messages"]
        found = {}
        with self.engine.connect() as conn:
            user_ids = list(conn.scalars(select(users.c.id).where(users.c.username.in_(list(usernames)))))
            message_ids = select(messages.c.id).where(messages.c.chat_id == chat_id)
            for name, table in sorted(tables.items()):
                columns = table.c
                if name == "chats":
                    query = table.select().where(columns.id == chat_id)
                elif "chat_id" in columns:
                    query = table.select().where(columns.chat_id == chat_id)
                elif "message_id" in columns:
                    query = table.select().where(columns.message_id.in_(message_ids))
                elif name == "users":
                    query = table.select().where(columns.id.in_(user_ids))
                elif "user_id" in columns:
                    query = table.select().where(columns.user_id.in_(user_ids))
                else:
                    continue
                keep = [i for i, c in enumerate(table.columns) if (name, c.name) not in VOLATILE]
                found[name] = sorted(tuple(repr(row[i]) for i in keep) for row in conn.execute(query))
        return found

    def message_bodies(self, chat_id: int) -> list[str]:
        messages = self.metadata.tables["messages"]
        with self.engine.connect() as conn:
            return list(conn.scalars(select(messages.c.body).where(messages.c.chat_id == chat_id)
                                     .order_by(messages.c.id)))

    def close(self) -> None:
        self.engine.dispose()


def flask_command(server, *args: str) -> subprocess.CompletedProcess:
    """Run `flask --app wsgi ARGS` against a live server's database and settings."""
    flask = str(Path(sys.executable).parent / "flask")
    return subprocess.run([flask, "--app", "wsgi", *args], cwd=ROOT, env=server.env, capture_output=True, text=True,
                          timeout=60)



def set_role(server, username: str, role: str) -> None:
    """Give a live server's user a workspace role (a guest, say) without the admin pages."""
    _update(server, "UPDATE users SET role = :role WHERE username = :username", role=role, username=username)


def set_public(server, chat_id: int, topic: str = "", archived: bool = False) -> None:
    """Make a live server's group a public channel (with a topic; archived) without the channel pages."""
    _update(server, "UPDATE chats SET is_public = :yes, topic = :topic, archived_at = :archived WHERE id = :id",
            yes=True, topic=topic, archived=datetime.now(UTC) if archived else None, id=chat_id)


def _update(server, statement: str, **values) -> None:
    engine = create_engine(server.env["DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), values)
    finally:
        engine.dispose()


def empty_database(app) -> None:
    """Delete every row the test wrote (the schema stays for the next test), and close the pool."""
    from webchat.extensions import db

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn, audit_log_writable(conn):
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()
