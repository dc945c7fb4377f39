"""a lone socket send in one statement on PostgreSQL: webchat_send_message()

A message sent alone took four round trips on PostgreSQL after its connection's BEGIN: the
sender's membership (with the repeat and read-only checks), the chat's next sequence number, the
INSERT and the COMMIT. The function does the same checks and writes in one statement, run in
autocommit (its own transaction): one round trip. It answers one row, or none if the user is not
a member of the chat: the sender's user columns, the chat's name and whether it is archived, the
id of the user's message already stored under the client id (a repeat: nothing is written), or
else the new message's id and sequence number. As before, the chat row is updated before the
INSERT (its lock serialises a chat's writers, so its ids commit in order), and the INSERT's
triggers (0008, 0014, 0015) do the rest. Mention rows (0007) are written with the message.
core/messaging.py (send_alone) calls it; SQLite keeps its statements.

Revision ID: 0017_send_in_one_statement
Revises: 0016_api
Create Date: 2026-12-07 20:55:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017_send_in_one_statement'
down_revision = '0016_api'
branch_labels = None
depends_on = None

POSTGRESQL_FUNCTION = """
    CREATE OR REPLACE FUNCTION webchat_send_message(p_chat integer, p_author integer, p_client_id varchar,
                                         p_now timestamptz, p_body text, p_html text, p_mentions text,
                                         p_mentioned integer[])
    RETURNS TABLE (sender_username varchar, sender_display_name varchar, sender_avatar_name varchar,
                   sender_is_bot boolean, chat_name varchar, chat_archived boolean, repeat_of integer,
                   message_id integer, message_seq integer)
    LANGUAGE plpgsql AS $$
    BEGIN
        SELECT u.username, u.display_name, u.avatar_name, u.is_bot, c.name, c.archived_at IS NOT NULL
          INTO sender_username, sender_display_name, sender_avatar_name, sender_is_bot, chat_name,
               chat_archived
          FROM memberships m JOIN users u ON u.id = m.user_id JOIN chats c ON c.id = m.chat_id
         WHERE m.chat_id = p_chat AND m.user_id = p_author;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        SELECT id INTO repeat_of FROM messages WHERE author_id = p_author AND client_id = p_client_id;
        IF repeat_of IS NULL AND NOT chat_archived THEN
            UPDATE chats SET last_seq = last_seq + 1, last_activity_at = p_now WHERE id = p_chat
                RETURNING last_seq INTO message_seq;
            INSERT INTO messages (chat_id, seq, created_at, author_id, change_seq, kind, body, html, mentions,
                                  client_id, broadcast)
                 VALUES (p_chat, message_seq, p_now, p_author, 0, 'user', p_body, p_html, p_mentions,
                         p_client_id, false)
              RETURNING id INTO message_id;
            INSERT INTO mentions (message_id, user_id, chat_id)
                 SELECT DISTINCT message_id, mentioned, p_chat FROM unnest(p_mentioned) AS mentioned
                  WHERE mentioned <> p_author;
        END IF;
        RETURN NEXT;
    END $$"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS webchat_send_message(integer, integer, varchar, timestamptz, text, text, "
                   "text, integer[])")
