"""The search index itself: FTS5 stays in step with the messages table; migration 0005 builds it
over stored messages and its downgrade removes it (SQLite and PostgreSQL)."""
import contextlib
import os

import pytest
from sqlalchemy import event, inspect, select, text

from webchat import create_app
from webchat.core.search import search_messages
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


# ----- what a search reads ---------------------------------------------------------------------

def bulk_messages(app, chat_id: int, username: str, body: str, count: int) -> None:
    """count messages of body in the chat, in one statement (the index's triggers run as for any)."""
    with app.app_context():
        db.session.execute(text("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
            INSERT INTO messages (chat_id, seq, kind, author_id, body, html, mentions, created_at, change_seq)
            SELECT :chat, c.last_seq + n.i, 'user', u.id, :body, :body, '', CURRENT_TIMESTAMP, 0
            FROM n, chats AS c, users AS u WHERE c.id = :chat AND u.username = :user"""),
            {"chat": chat_id, "user": username, "body": body, "count": count})
        db.session.execute(text("UPDATE chats SET last_seq = last_seq + :count WHERE id = :chat"),
                           {"chat": chat_id, "count": count})
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # New rows wait in the GIN index's pending list, which every search reads whole.
            db.session.execute(text("SELECT gin_clean_pending_list('ix_messages_search')"))
            db.session.commit()


def search_work(app, username: str, q: str) -> int:
    """How much the database does for username's search of q: SQLite's count of virtual-machine
    steps, PostgreSQL's count of buffers the search's queries touch (EXPLAIN ANALYZE, BUFFERS).
    Counts of work, not times: equal work, equal time, whatever the machine's load."""
    with app.test_request_context():
        user = db.session.scalar(select(User).where(User.username == username))
        connection = db.session.connection()
        if connection.dialect.name == "sqlite":
            steps = [0]

            def count() -> int:
                steps[0] += 1
                return 0
            search_messages(user, q)  # the first search after a write loads the index's structure
            connection.connection.driver_connection.set_progress_handler(count, 1)
            try:
                search_messages(user, q)
            finally:
                connection.connection.driver_connection.set_progress_handler(None, 1)
            db.session.remove()
            return steps[0]
        statements = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if "search_vector @@" in statement:
                statements.append((statement, parameters))
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            search_messages(user, q)
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        buffers = 0
        raw = connection.connection.driver_connection
        for statement, parameters in statements:
            [[plan]] = raw.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters).fetchone()
            buffers += plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
        db.session.remove()
        return buffers


def test_a_search_does_the_same_work_for_a_word_used_only_in_others_chats_as_for_a_word_used_nowhere(trio):
    """Nothing of another chat's words is read: how long a search takes tells nothing of them."""
    alice, bob, carol = trio
    mine = create_group(alice, "Mine", "bob")
    theirs = create_group(bob, "Theirs", "carol")
    post_messages(alice.app, mine, "bob", ["an ordinary message", "another one"])
    bulk_messages(alice.app, theirs, "carol", "the zebrafish tank needs cleaning", 5_000)

    assert search_work(alice.app, "alice", "zebrafish") == search_work(alice.app, "alice", "xylophonist")
    assert search_work(alice.app, "alice", "zebrafish tank") == search_work(alice.app, "alice", "xylophonist tank")
    # SQLite's count does see a word used in one's own chats. (PostgreSQL, over so few messages,
    # reads the searcher's chats' newest rows by the (chat_id, id) index either way.)
    bulk_messages(alice.app, mine, "bob", "our zebrafish", 50)
    with alice.app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        assert search_work(alice.app, "alice", "zebrafish") > search_work(alice.app, "alice", "xylophonist")
