"""The schema comes from the migrations, and the demo data command works on top of it."""
import os
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from webchat import create_app
from webchat.core.search import include_in_autogenerate
from webchat.extensions import db
from webchat.models import AuditEvent, Chat, Message, User, Workspace
from webchat.text_rules import name_skeleton

from .conftest import Actor
from .support import services
from .support.pages import chat_list
from .support.records import members_of, stored_messages, user_names

TABLES = {"users", "chats", "memberships", "messages", "reactions", "attachments", "login_sessions", "mentions",
          "workspace", "invitations", "audit_events", "thread_follows",
          "push_subscriptions", "notification_queue", "notifications", "api_tokens", "webhooks"}


@pytest.fixture
def empty_database_url(tmp_path):
    """A database with nothing in it, on the backend the suite runs on."""
    base = os.environ.get("WEBCHAT_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with services.postgres_database(base, "migrations") as url:
        yield url


@pytest.fixture
def empty_app(empty_database_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": empty_database_url,
                      "RATELIMIT_ENABLED": False})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def flask_db(app, *args):
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def schema_differences(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        # The search index (migration 0005) is not in the models: compared as `flask db migrate` does.
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True,
                                                         "include_name": include_in_autogenerate})
        return compare_metadata(context, db.metadata)


def tables(app) -> set[str]:
    with app.app_context():
        names = set(inspect(db.engine).get_table_names()) - {"alembic_version", "sqlite_sequence"}
        return {name for name in names if include_in_autogenerate(name, "table", {})}


def test_flask_db_upgrade_on_an_empty_database_builds_exactly_the_models_schema(empty_app):
    assert tables(empty_app) == set()

    flask_db(empty_app, "upgrade")

    assert tables(empty_app) == TABLES
    assert schema_differences(empty_app) == []
    with empty_app.app_context(), db.engine.connect() as conn:
        head = ScriptDirectory.from_config(empty_app.extensions["migrate"].migrate.get_config()).get_current_head()
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_migrations_downgrade_to_nothing_and_upgrade_again(empty_app):
    flask_db(empty_app, "upgrade")

    flask_db(empty_app, "downgrade", "base")
    assert tables(empty_app) == set()

    flask_db(empty_app, "upgrade")
    assert schema_differences(empty_app) == []


def test_upgrading_an_up_to_date_database_changes_nothing(empty_app):
    flask_db(empty_app, "upgrade")

    flask_db(empty_app, "upgrade")

    assert schema_differences(empty_app) == []


def test_message_ids_are_never_reused_after_a_delete(empty_app):
    """Ids are polling cursors ("after N"): a deleted newest id must not come back (SQLite AUTOINCREMENT)."""
    flask_db(empty_app, "upgrade")

    with empty_app.app_context():
        chat = Chat(kind="group", name="Ids")
        db.session.add(chat)
        db.session.flush()

        seq = iter(range(1, 100))

        def add_message():
            message = Message(chat_id=chat.id, seq=next(seq), body="x", html="x")
            db.session.add(message)
            db.session.commit()
            return message.id

        add_message()
        newest = add_message()
        db.session.delete(db.session.get(Message, newest))
        db.session.commit()
        assert add_message() > newest


def test_upgrading_counts_the_mentions_of_messages_stored_before_mention_rows(empty_app):
    """Messages from before migration 0007 named their mentions only in messages.mentions: the
    upgrade makes their rows, so an "@" badge keeps counting them."""
    flask_db(empty_app, "upgrade", "0006_login_sessions_guard")
    with empty_app.app_context():  # users, chats and messages as they were then
        bob_x, bobax, carol = (insert_old_user(name, name) for name in ("bob_x", "bobax", "carol"))
        chat_id = insert_old_chat("Old")
        for seq, mentions in enumerate(("bob_x carol", "", "carol"), start=1):
            db.session.execute(text(
                "INSERT INTO messages (chat_id, seq, kind, author_id, body, html, mentions, created_at, change_seq) "
                "VALUES (:chat, :seq, 'user', :author, 'x', 'x', :mentions, :now, 0)"),
                {"chat": chat_id, "seq": seq, "author": bobax, "mentions": mentions, "now": datetime.now(UTC)})
        db.session.commit()
        first, _, third = db.session.scalars(select(Message.id).order_by(Message.id)).all()

    flask_db(empty_app, "upgrade")
    with empty_app.app_context(), db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT message_id, user_id, chat_id FROM mentions ORDER BY 1, 2").all()
    # "bob_x" is not "bobax": "_" is no wildcard
    assert [tuple(row) for row in rows] == [(first, bob_x, chat_id), (first, carol, chat_id), (third, carol, chat_id)]


def test_names_stored_before_name_skeletons_are_kept_and_a_lookalike_of_them_is_refused(empty_app):
    """Migration 0010 fills the skeleton of each name stored before it, changing no name: a new
    display name that looks like one of them is refused, as one like a newer name is."""
    flask_db(empty_app, "upgrade", "0009_search_by_chat")
    with empty_app.app_context():
        insert_old_user("alice", "Alice \u202eArcher")
        insert_old_user("bob", "Robert")
        db.session.commit()

    flask_db(empty_app, "upgrade")

    assert dict(names(empty_app)) == {"alice": "Alice \u202eArcher", "bob": "Robert"}
    for lookalike, whose in (("ALICE ARCHER", "alice"), ("B0B", "bob")):  # a display name, a username
        response = Actor(empty_app).post("/register", {"username": "mallory", "display_name": lookalike,
                                                       "password": "password123"})
        assert response.status_code == 422
        assert f"That name looks too much like another person's (@{whose}). Choose another." in \
            response.get_data(as_text=True).replace("&#39;", "'")
    assert [u for u, _ in names(empty_app)] == ["alice", "bob"]


def insert_old_user(username: str, display_name: str) -> int:
    """A user row as the revisions before 0010 had them (no name skeletons); its id."""
    return db.session.execute(text(
        "INSERT INTO users (username, display_name, password_hash, session_token, is_active_account, "
        "hide_system_messages, created_at) VALUES (:u, :d, '-', 'token', :t, :f, :now) RETURNING id"),
        {"u": username, "d": display_name, "t": True, "f": False, "now": datetime.now(UTC)}).scalar_one()


def insert_old_chat(name: str | None, kind: str = "group") -> int:
    """A chat row as the revisions before 0013 had them (no channels); its id."""
    return db.session.execute(text(
        "INSERT INTO chats (kind, name, last_message_id, last_activity_at, created_at) "
        "VALUES (:kind, :name, 0, :now, :now) RETURNING id"),
        {"kind": kind, "name": name, "now": datetime.now(UTC)}).scalar_one()


def insert_old_membership(chat_id: int, user_id: int, role: str) -> None:
    db.session.execute(text(
        "INSERT INTO memberships (chat_id, user_id, role, last_read_message_id, joined_at) "
        "VALUES (:chat, :user, :role, 0, :now)"), {"chat": chat_id, "user": user_id, "role": role,
                                                   "now": datetime.now(UTC)})


def test_upgrading_makes_group_chats_private_channels_people_members_and_the_first_account_the_owner(empty_app):
    """Migration 0013 on a workspace in use: nothing anyone could see changes, the first account
    runs it, registration stays open as it was, and each group chat keeps its members, privately."""
    flask_db(empty_app, "upgrade", "0012_avatars")
    with empty_app.app_context():
        alice, bob, carol = (insert_old_user(name, name.title()) for name in ("alice", "bob", "carol"))
        design = insert_old_chat("Design")
        for user, role in ((bob, "member"), (carol, "admin"), (alice, "admin")):
            insert_old_membership(design, user, role)
        direct = insert_old_chat(None, kind="direct")
        for user in (alice, bob):
            insert_old_membership(direct, user, "admin")
        db.session.commit()

    flask_db(empty_app, "upgrade")

    with empty_app.app_context():
        assert {u.username: u.role for u in db.session.scalars(select(User))} == \
            {"alice": "owner", "bob": "member", "carol": "member"}
        chats = {c.id: c for c in db.session.scalars(select(Chat))}
        assert (chats[design].is_public, chats[design].owner_id, chats[design].is_archived) == (False, carol, False)
        assert chats[design].name_skeleton == name_skeleton("Design")
        assert (chats[direct].kind, chats[direct].is_public, chats[direct].owner_id) == ("direct", False, None)
        settings = db.session.get(Workspace, 1)
        assert (settings.registration, settings.channel_creators) == ("open", "members")
    with empty_app.app_context():  # everyone stays in the chats they were in, with the roles they had
        members = db.session.execute(text("SELECT chat_id, user_id, role FROM memberships ORDER BY 1, 2")).all()
    assert [tuple(m) for m in members] == sorted([(design, bob, "member"), (design, carol, "admin"),
                                                  (design, alice, "admin"), (direct, alice, "admin"),
                                                  (direct, bob, "admin")])


def test_upgrading_to_threads_keeps_every_message_makes_none_a_reply_and_the_trigger_skips_thread_replies(
        empty_app):
    """Migration 0014 on a chat in use: every message stays in the channel with an empty thread
    summary, and the remade insert trigger still moves the chat's newest id and its author's read
    marker, except for a reply kept in its thread."""
    flask_db(empty_app, "upgrade", "0013_workspace")
    insert = text("INSERT INTO messages (chat_id, seq, kind, author_id, body, html, mentions, created_at, change_seq) "
                  "VALUES (:chat, :seq, 'user', :author, :body, :body, '', :now, 0) RETURNING id")
    with empty_app.app_context():
        alice, bob = insert_old_user("alice", "Alice"), insert_old_user("bob", "Bob")
        chat_id = insert_old_chat("Design")
        for user in (alice, bob):
            insert_old_membership(chat_id, user, "member")
        old = [db.session.execute(insert, {"chat": chat_id, "seq": seq, "author": alice, "body": f"old {seq}",
                                           "now": datetime.now(UTC)}).scalar_one() for seq in (1, 2, 3)]
        db.session.commit()

    flask_db(empty_app, "upgrade")

    with empty_app.app_context():
        messages = db.session.scalars(select(Message).order_by(Message.id)).all()
        assert [(m.id, m.body) for m in messages] == [(old[i], f"old {i + 1}") for i in range(3)]
        assert all((m.thread_id, m.broadcast, m.reply_to_id, m.reply_count, m.last_reply_id, m.thread_repliers)
                   == (None, False, None, 0, 0, "") for m in messages)
        newest = db.session.scalar(select(Chat.last_message_id).where(Chat.id == chat_id))
        assert newest == old[-1]

        def bob_writes(seq, **reply):
            db.session.execute(text(
                "INSERT INTO messages (chat_id, seq, kind, author_id, body, html, mentions, created_at, change_seq, "
                "thread_id, broadcast) VALUES (:chat, :seq, 'user', :bob, 'r', 'r', '', :now, 0, :thread, :broadcast)"),
                {"chat": chat_id, "seq": seq, "bob": bob, "now": datetime.now(UTC), "thread": reply.get("thread"),
                 "broadcast": reply.get("broadcast", False)})
            db.session.commit()
            return (db.session.scalar(text("SELECT last_message_id FROM chats WHERE id = :c"), {"c": chat_id}),
                    db.session.scalar(text("SELECT last_read_message_id FROM memberships WHERE chat_id = :c "
                                           "AND user_id = :u"), {"c": chat_id, "u": bob}))

        assert bob_writes(4, thread=old[0]) == (old[-1], 0)  # kept in its thread: the channel does not move
        newest_id = db.session.scalar(select(func.max(Message.id)))
        assert bob_writes(5, thread=old[0], broadcast=True) == (newest_id + 1, newest_id + 1)
        assert bob_writes(6) == (newest_id + 2, newest_id + 2)


def test_the_audit_log_refuses_to_change_or_lose_a_line(empty_app):
    flask_db(empty_app, "upgrade")
    with empty_app.app_context():
        db.session.add(AuditEvent(action="user.deactivate", target="@bob", detail=""))
        db.session.commit()
        for statement in ("UPDATE audit_events SET target = '@carol'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert [(e.action, e.target) for e in db.session.scalars(select(AuditEvent))] == [("user.deactivate", "@bob")]


def names(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(select(User.username, User.display_name)
                                                         .order_by(User.username))]


# ----- seed-demo -----------------------------------------------------------------------------

def seed_demo(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (User, Chat, Message)}


def test_seed_demo_creates_alice_bob_and_carol_who_can_sign_in(app):
    output = seed_demo(app)

    assert "Demo data ready" in output
    assert user_names(app) == ["alice", "bob", "carol"]
    for username in ("alice", "bob", "carol"):
        browser = Actor(app)
        assert browser.login(username, "webchat-demo").status_code == 302
    alice = Actor(app)
    alice.login("alice", "webchat-demo")
    assert [entry["title"] for entry in chat_list(alice.get("/"))] == ["Bob Baker", "Random", "general"]


def test_seed_demo_run_twice_creates_nothing_more(app):
    seed_demo(app)
    first = counts(app)

    output = seed_demo(app)

    assert "already present; nothing changed" in output
    assert counts(app) == first
    assert user_names(app) == ["alice", "bob", "carol"]


def test_every_demo_group_chat_has_all_three_users_and_some_history(app):
    seed_demo(app)

    with app.app_context():
        groups = list(db.session.scalars(select(Chat.id).where(Chat.kind == "group")))
        directs = list(db.session.scalars(select(Chat.id).where(Chat.kind == "direct")))
    assert len(groups) == 2
    for chat_id in groups:
        assert set(members_of(app, chat_id)) == {"alice", "bob", "carol"}
        assert [m for m in stored_messages(app, chat_id) if m.kind == "user"]
    [direct] = directs
    assert set(members_of(app, direct)) == {"alice", "bob"}
