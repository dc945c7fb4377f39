"""search index keyed by chat: each word is indexed as "<chat id><word>"

Revision ID: 0009_search_by_chat
Revises: 0008_message_insert_triggers
Create Date: 2026-12-06 23:45:00

Changes together with webchat/search_words.py (what a token is) and webchat/chats/search.py.

0005's index held each word once for all chats, and a search filtered by the searcher's chats
after reading it: a word used 20,000 times in other people's chats took far longer to not find
than a word used nowhere, which told anyone what others were writing about. Now every token names
its chat, and a search asks only for its words in the searcher's chats: the index never reads
another chat's words.

SQLite: messages_fts becomes a contentless FTS5 table over webchat_search_words(chat_id, body)
(search_words.index_text, registered on every SQLite connection by webchat/database.py): the
tokens are made in Python, and the 'ascii' tokenizer only splits them at spaces. Triggers keep it
in step as before; a contentless table forgets a row by being given its tokens again, which the
deterministic function does. Any later migration that rebuilds the messages table on SQLite
(batch_alter_table with recreate) drops these triggers with the old table: it must create them
again (TRIGGERS below), as 0005 said of its own.

PostgreSQL: messages.search_vector becomes message_search_vector(chat_id, body): the lexemes of
to_tsvector('simple', body), positions kept (phrases still match), each prefixed with the chat's
key. Dropping the old column drops its GIN index; the new column is computed for every stored
message as it is added.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009_search_by_chat'
down_revision = '0008_message_insert_triggers'
branch_labels = None
depends_on = None

WORDS = "webchat_search_words({row}.chat_id, {row}.body)"
TRIGGERS = {
    "messages_fts_insert": f"""
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, words) VALUES (new.id, {WORDS.format(row="new")});
        END""",
    "messages_fts_delete": f"""
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, words) VALUES ('delete', old.id, {WORDS.format(row="old")});
        END""",
    "messages_fts_update": f"""
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, chat_id ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, words) VALUES ('delete', old.id, {WORDS.format(row="old")});
            INSERT INTO messages_fts(rowid, words) VALUES (new.id, {WORDS.format(row="new")});
        END""",
}

# The chat key is 10 digits (search_words.CHAT_KEY_DIGITS); to_tsvector drops words over 2,047
# bytes, and a lexeme may be no longer, so the longest ones lose out rather than fail the insert.
POSTGRESQL_FUNCTION = r"""
    CREATE FUNCTION message_search_vector(chat_id bigint, body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
        SELECT coalesce(string_agg(
                   '''' || replace(replace(lpad(chat_id::text, 10, '0') || lexeme, '\', '\\'), '''', '''''')
                   || ''':' || array_to_string(positions, ','), ' '), '')::tsvector
        FROM unnest(to_tsvector('simple'::regconfig, body))
        WHERE octet_length(lexeme) <= 2037
    $$"""


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE messages_fts")
        # Prefix indexes of 2 and 3 characters after the chat key, as 0005 had for "as you type".
        op.execute("""
            CREATE VIRTUAL TABLE messages_fts USING fts5(
                words, content='', tokenize='ascii', prefix='12 13')""")
        for ddl in TRIGGERS.values():
            op.execute(ddl)
        op.execute(f"INSERT INTO messages_fts(rowid, words) SELECT id, {WORDS.format(row='messages')} FROM messages")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE messages DROP COLUMN search_vector")
        op.execute(POSTGRESQL_FUNCTION)
        op.execute("""
            ALTER TABLE messages ADD COLUMN search_vector tsvector
            GENERATED ALWAYS AS (message_search_vector(chat_id, body)) STORED""")
        op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")
    else:
        raise NotImplementedError(f"message search supports SQLite and PostgreSQL, not {dialect}")


def downgrade():
    """Back to 0005's index (words for all chats, a chat token on PostgreSQL), built again."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
        op.execute("""
            CREATE VIRTUAL TABLE messages_fts USING fts5(
                body, content='messages', content_rowid='id',
                tokenize='unicode61 remove_diacritics 2', prefix='2 3')""")
        for ddl in TRIGGERS_0005.values():
            op.execute(ddl)
        op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_vector")
        op.execute("DROP FUNCTION IF EXISTS message_search_vector(bigint, text)")
        op.execute("""
            ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
                to_tsvector('simple'::regconfig, body) || array_to_tsvector(ARRAY['#' || chat_id::text])
            ) STORED""")
        op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")


# 0005's triggers, copied: a migration must not change when a later file does.
TRIGGERS_0005 = {
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
