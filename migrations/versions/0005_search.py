"""full-text search over message bodies (SQLite FTS5, PostgreSQL tsvector + GIN)

Migration 0009_search_by_chat replaces this index with one that keeps each chat's words apart.

Revision ID: 0005_search
Revises: 0004_message_changes
Create Date: 2026-11-26 10:30:00

Changes together with webchat/chats/search.py, which queries these objects and tells alembic's
autogenerate to leave them alone (they are not in the models).

SQLite: messages_fts is an FTS5 index over messages.body (external content: it stores no copy of
the text; snippet() reads it from messages). Triggers keep it in step on insert, delete and any
change of body; every row is indexed, system and deleted ones too (a deleted message's body is
blank, so it has no words), and search.py filters kind and deleted_at. FTS5 must be told the
exact old text to forget, which is why the triggers index unconditionally: a WHEN clause that
missed one case would corrupt the index.
Any later migration that rebuilds the messages table on SQLite (batch_alter_table with
recreate) drops these triggers with the old table: it must create them again (TRIGGERS below).

PostgreSQL: messages.search_vector is a stored generated column, to_tsvector('simple', body)
plus one token "#<chat id>", with a GIN index. 'simple' lower-cases without stemming or stop
words, so usernames, code and text in any language are found as typed. The chat token lets the
index alone find a word in the searcher's chats only; no word of a message can produce it (the
parser never keeps "#", and a prefix search is made of letters and digits).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005_search'
down_revision = '0004_message_changes'
branch_labels = None
depends_on = None

TRIGGERS = {
    "messages_fts_insert": """
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
        END""",
    "messages_fts_delete": """
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
        END""",
    "messages_fts_update": """
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
            INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
        END""",
}


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # remove_diacritics 2: "cafe" finds "café". Prefix indexes of 2 and 3 characters keep
        # "as you type" searches (the last word is a prefix) fast on short words.
        op.execute("""
            CREATE VIRTUAL TABLE messages_fts USING fts5(
                body, content='messages', content_rowid='id',
                tokenize='unicode61 remove_diacritics 2', prefix='2 3')""")
        for ddl in TRIGGERS.values():
            op.execute(ddl)
        op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    elif dialect == "postgresql":
        op.execute("""
            ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
                to_tsvector('simple'::regconfig, body) || array_to_tsvector(ARRAY['#' || chat_id::text])
            ) STORED""")
        op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")
    else:
        raise NotImplementedError(f"message search supports SQLite and PostgreSQL, not {dialect}")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_search")
        op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_vector")
