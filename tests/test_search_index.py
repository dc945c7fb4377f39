"""The search index itself: FTS5 stays in step with the messages table; migration 0005 builds it
over stored messages and its downgrade removes it (SQLite and PostgreSQL)."""
import contextlib
import os

import pytest
from sqlalchemy import inspect, text

from webchat import create_app
from webchat.chats.search import search_messages
from webchat.extensions import db
from webchat.models import User
from webchat.search_words import index_text

from .support import services
from .support.records import create_group, post_messages


@pytest.fixture
def trio(actor):
    return actor("alice"), actor("bob"), actor("carol")


# ----- the index -------------------------------------------------------------------------------

def sqlite_only(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("FTS5's own consistency check (SQLite)")


def fts_integrity_check(app) -> None:
    """FTS5 checks its index, which must hold exactly each stored message's tokens (search_words)."""
    with app.app_context():
        db.session.execute(text("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"))
        db.session.execute(text("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_tokens"
                                " USING fts5vocab(main, messages_fts, instance)"))
        indexed = sorted(db.session.execute(text("SELECT doc, term FROM temp.fts_tokens")).all())
        expected = sorted((message_id, token)
                          for message_id, chat_id, body in db.session.execute(
                              text("SELECT id, chat_id, body FROM messages"))
                          for token in index_text(chat_id, body).split())
        assert indexed == expected
        db.session.commit()


def test_the_sqlite_index_stays_in_step_with_messages_through_edits_deletes_and_wipes(trio):
    alice, bob, _ = trio
    sqlite_only(alice.app)
    chat_id = create_group(alice, "Churn", "bob")
    first, second, _ = post_messages(alice.app, chat_id, "bob", ["alpha beta", "gamma delta", "epsilon"])
    bob.post(f"/chats/{chat_id}/messages/{first}/edit", {"body": "alpha omega"})
    bob.post(f"/chats/{chat_id}/messages/{second}/delete", {})
    fts_integrity_check(alice.app)

    with alice.app.app_context(), db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):  # as the test fixture's wipe does
            conn.execute(table.delete())
    fts_integrity_check(alice.app)
    with alice.app.app_context():
        left = db.session.execute(text("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'alpha'"))
        assert left.scalar() == 0


# ----- the migration ---------------------------------------------------------------------------

@pytest.fixture
def bare_app(tmp_path):
    """An app on an empty database of the suite's backend (no migrations applied)."""
    base = os.environ.get("WEBCHAT_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(services.postgres_database(base, "search")) if base
               else f"sqlite:///{tmp_path / 'search.db'}")
        app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": url})
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def migrate(app, command, *args):
    result = app.test_cli_runner().invoke(args=["db", command, *args])
    assert result.exit_code == 0, result.output + repr(result.exception)


def search_objects(app) -> set[str]:
    with app.app_context():
        inspector = inspect(db.engine)
        tables = {name for name in inspector.get_table_names() if name.startswith("messages_fts")}
        columns = {c["name"] for c in inspector.get_columns("messages") if c["name"] == "search_vector"}
        return tables | columns


def test_the_search_migration_indexes_stored_messages_and_its_downgrade_removes_the_index(bare_app):
    migrate(bare_app, "upgrade", "0004_message_changes")
    with bare_app.app_context():
        db.session.execute(text(
            "INSERT INTO users (id, username, display_name, password_hash, session_token, is_active_account,"
            " hide_system_messages, hide_presence, send_read_receipts, created_at)"
            " VALUES (1, 'ada', 'Ada', 'x', 'x', true, false, false, true, CURRENT_TIMESTAMP)"))
        db.session.execute(text("INSERT INTO chats (id, kind, name, last_message_id, last_seq, last_change_seq,"
                                " last_activity_at, created_at) VALUES (1, 'group', 'Old', 1, 1, 0,"
                                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        db.session.execute(text("INSERT INTO memberships (chat_id, user_id, role, last_read_message_id,"
                                " last_delivered_message_id, notify, joined_at)"
                                " VALUES (1, 1, 'admin', 0, 0, 'all', CURRENT_TIMESTAMP)"))
        db.session.execute(text("INSERT INTO messages (id, chat_id, seq, kind, author_id, body, html, mentions,"
                                " created_at, change_seq) VALUES (1, 1, 1, 'user', 1, 'written before search existed',"
                                " '<p>written before search existed</p>', '', CURRENT_TIMESTAMP, 0)"))
        db.session.commit()
    assert search_objects(bare_app) == set()

    migrate(bare_app, "upgrade")

    assert search_objects(bare_app)
    with bare_app.test_request_context():
        page = search_messages(db.session.get(User, 1), "before existed")
        assert [hit.message.id for hit in page.hits] == [1]

    migrate(bare_app, "downgrade", "0004_message_changes")
    assert search_objects(bare_app) == set()
