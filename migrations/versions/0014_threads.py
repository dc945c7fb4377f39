"""threads: replies to a message, quote-replies, and who follows which thread

A reply is a message of its chat (the same row, sequence and delivery) with thread_id, its
parent's id; broadcast: it shows in the channel too ("also send to channel"). reply_to_id is the
message a reply quotes (a broadcast reply quotes its parent). A parent carries its thread's
summary (reply count, newest reply, the last repliers), changed with each reply as a change of
the parent (its change_seq), so pages catch up on it like on an edit.

A reply that stays in its thread is not the channel's newest message and does not move its
author's read marker of the channel: the insert trigger of 0008 is made again with that
condition (the columns are added in place, as in 0013: a batch copy of messages on SQLite would
drop the trigger and cascade to the rows that reference it).

Revision ID: 0014_threads
Revises: 0013_workspace
Create Date: 2026-12-07 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_threads'
down_revision = '0013_workspace'
branch_labels = None
depends_on = None

IN_CHANNEL = "(new.thread_id IS NULL OR new.broadcast)"

SQLITE_TRIGGER = f"""
    CREATE TRIGGER messages_after_insert AFTER INSERT ON messages WHEN {IN_CHANNEL} BEGIN
        UPDATE chats SET last_message_id = new.id WHERE id = new.chat_id AND last_message_id < new.id;
        UPDATE memberships SET last_read_message_id = new.id
         WHERE new.author_id IS NOT NULL AND chat_id = new.chat_id AND user_id = new.author_id
           AND last_read_message_id < new.id;
    END"""

POSTGRESQL_FUNCTION = """
    CREATE OR REPLACE FUNCTION messages_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE chats SET last_message_id = inserted.newest
          FROM (SELECT chat_id, max(id) AS newest FROM new_messages
                 WHERE thread_id IS NULL OR broadcast GROUP BY chat_id) AS inserted
         WHERE chats.id = inserted.chat_id AND chats.last_message_id < inserted.newest;
        UPDATE memberships SET last_read_message_id = written.newest
          FROM (SELECT chat_id, author_id, max(id) AS newest FROM new_messages
                 WHERE author_id IS NOT NULL AND (thread_id IS NULL OR broadcast)
                 GROUP BY chat_id, author_id) AS written
         WHERE memberships.chat_id = written.chat_id AND memberships.user_id = written.author_id
           AND memberships.last_read_message_id < written.newest;
        RETURN NULL;
    END $$"""

POSTGRESQL_FUNCTION_BEFORE = """
    CREATE OR REPLACE FUNCTION messages_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
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

SQLITE_TRIGGER_BEFORE = """
    CREATE TRIGGER messages_after_insert AFTER INSERT ON messages BEGIN
        UPDATE chats SET last_message_id = new.id WHERE id = new.chat_id AND last_message_id < new.id;
        UPDATE memberships SET last_read_message_id = new.id
         WHERE new.author_id IS NOT NULL AND chat_id = new.chat_id AND user_id = new.author_id
           AND last_read_message_id < new.id;
    END"""


def upgrade():
    op.add_column('messages', sa.Column('thread_id', sa.Integer(), nullable=True))
    op.add_column('messages', sa.Column('broadcast', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('messages', sa.Column('reply_to_id', sa.Integer(), nullable=True))
    op.add_column('messages', sa.Column('reply_count', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('messages', sa.Column('last_reply_id', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('messages', sa.Column('last_reply_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('messages', sa.Column('thread_repliers', sa.Text(), nullable=False, server_default=sa.text("''")))
    op.create_index('ix_messages_thread_id', 'messages', ['thread_id', 'id'])
    op.create_index('ix_messages_reply_to', 'messages', ['reply_to_id'])
    op.add_column('mentions', sa.Column('thread_id', sa.Integer(), nullable=True))
    op.create_index('ix_mentions_user_thread', 'mentions', ['user_id', 'thread_id', 'message_id'],
                    sqlite_where=sa.text('thread_id IS NOT NULL'), postgresql_where=sa.text('thread_id IS NOT NULL'))
    op.create_table(
        'thread_follows',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('thread_id', sa.Integer(), sa.ForeignKey('messages.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('chat_id', sa.Integer(), sa.ForeignKey('chats.id', ondelete='CASCADE'), nullable=False),
        sa.Column('following', sa.Boolean(), nullable=False),
        sa.Column('last_read_id', sa.Integer(), nullable=False, server_default='0'),
    )
    op.create_index('ix_thread_follows_thread', 'thread_follows', ['thread_id'])
    _replace_trigger(SQLITE_TRIGGER, POSTGRESQL_FUNCTION)


def _replace_trigger(sqlite_trigger: str, postgresql_function: str) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS messages_after_insert')
        op.execute(sqlite_trigger)
    else:
        op.execute(postgresql_function)


def downgrade():
    _replace_trigger(SQLITE_TRIGGER_BEFORE, POSTGRESQL_FUNCTION_BEFORE)
    op.drop_index('ix_thread_follows_thread', table_name='thread_follows')
    op.drop_table('thread_follows')
    op.drop_index('ix_mentions_user_thread', table_name='mentions')
    op.drop_column('mentions', 'thread_id')
    op.drop_index('ix_messages_reply_to', table_name='messages')
    op.drop_index('ix_messages_thread_id', table_name='messages')
    for column in ('thread_repliers', 'last_reply_at', 'last_reply_id', 'reply_count', 'reply_to_id', 'broadcast',
                   'thread_id'):
        op.drop_column('messages', column)
