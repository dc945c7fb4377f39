"""a new message moves its chat's newest id and its author's read marker, inside the INSERT

Revision ID: 0008_message_insert_triggers
Revises: 0007_mention_rows
Create Date: 2026-11-27 01:30:00

Storing a message took two statements after its INSERT: set the chat's last_message_id, and move
the author's read marker to it (one has read what one wrote). Every path that stores a message
did both, so the database does them now, as part of the INSERT: on the path every message takes,
each statement sent from Python costs more of the server's CPU than the database's own work
(bench/send_cost.py). Both only ever move forward.

SQLite runs a row trigger (it has no other kind). PostgreSQL runs a statement trigger over the
inserted rows, so a batch of messages (chats.group_commit) updates each chat row and each author's
membership once, not once per message. Any later migration that rebuilds the messages table on
SQLite (batch_alter_table with recreate) drops the trigger with the old table: it must create it
again (SQLITE_TRIGGER below).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_message_insert_triggers'
down_revision = '0007_mention_rows'
branch_labels = None
depends_on = None

SQLITE_TRIGGER = """
    CREATE TRIGGER messages_after_insert AFTER INSERT ON messages BEGIN
        UPDATE chats SET last_message_id = new.id WHERE id = new.chat_id AND last_message_id < new.id;
        UPDATE memberships SET last_read_message_id = new.id
         WHERE new.author_id IS NOT NULL AND chat_id = new.chat_id AND user_id = new.author_id
           AND last_read_message_id < new.id;
    END"""

POSTGRESQL_FUNCTION = """
    CREATE FUNCTION messages_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE chats SET last_message_id = inserted.newest
          FROM (SELECT chat_id, max(id) AS newest FROM new_messages GROUP BY chat_id) AS inserted
         WHERE chats.id = inserted.chat_id AND chats.last_message_id < inserted.newest;
        UPDATE memberships SET last_read_message_id = written.newest
          FROM (SELECT chat_id, author_id, max(id) AS newest FROM new_messages
                 WHERE author_id IS NOT NULL GROUP BY chat_id, author_id) AS written
         WHERE memberships.chat_id = written.chat_id AND memberships.user_id = written.author_id
           AND memberships.last_read_message_id < written.newest;
        RETURN NULL;
    END $$"""

POSTGRESQL_TRIGGER = """
    CREATE TRIGGER messages_after_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION messages_after_insert()"""


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(SQLITE_TRIGGER)
    elif dialect == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)
    else:
        raise NotImplementedError(f"webchat supports SQLite and PostgreSQL, not {dialect}")


def downgrade():
    dialect = op.get_bind().dialect.name
    op.execute("DROP TRIGGER IF EXISTS messages_after_insert" + (" ON messages" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS messages_after_insert()")
