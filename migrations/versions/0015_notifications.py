"""notifications: Web Push subscriptions, do-not-disturb hours, e-mail, and the delivery queue

Every person's message is queued for the notifier by a trigger (notification_queue: the
message's id only), in the statement that stores it: the send path makes no extra round trip and
waits on nothing, and a message stored is never missed by the notifier, whichever worker or host
stored it, across restarts. The notifier (core/notifier.py) takes queued messages in batches with
FOR UPDATE SKIP LOCKED, decides who gets what (core/notifications.py) and writes one row of
notifications per person and way (desktop, push, e-mail), which any worker then claims, sends
and marks sent exactly once. A chat's later messages within the folding window go into one row
that folds them (folds, count): the partial unique index makes that one upsert.

Revision ID: 0015_notifications
Revises: 0014_threads
Create Date: 2026-12-07 18:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_notifications'
down_revision = '0014_threads'
branch_labels = None
depends_on = None

SQLITE_TRIGGER = """
    CREATE TRIGGER messages_queue_notifications AFTER INSERT ON messages WHEN new.kind = 'user' BEGIN
        INSERT INTO notification_queue (message_id) VALUES (new.id);
    END"""

POSTGRESQL_FUNCTION = """
    CREATE OR REPLACE FUNCTION messages_queue_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO notification_queue (message_id) SELECT id FROM new_messages WHERE kind = 'user';
        RETURN NULL;
    END $$"""

POSTGRESQL_TRIGGER = """
    CREATE TRIGGER messages_queue_notifications AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION messages_queue_notifications()"""

FOLDING = "state = 'due' AND folds"


def upgrade():
    op.add_column('users', sa.Column('email', sa.String(254), nullable=True))
    op.add_column('users', sa.Column('email_notifications', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('users', sa.Column('time_zone', sa.String(64), nullable=False, server_default='UTC'))
    op.add_column('users', sa.Column('dnd_start', sa.Integer(), nullable=True))
    op.add_column('users', sa.Column('dnd_end', sa.Integer(), nullable=True))
    op.create_index('ix_users_email', 'users', ['email'])
    op.create_table(
        'push_subscriptions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('endpoint', sa.Text(), nullable=False),
        sa.Column('p256dh', sa.String(128), nullable=False),
        sa.Column('auth', sa.String(64), nullable=False),
        sa.Column('device', sa.String(100), nullable=False, server_default=sa.text("''")),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('endpoint', name='uq_push_subscriptions_endpoint'),
    )
    op.create_index('ix_push_subscriptions_user', 'push_subscriptions', ['user_id'])
    op.create_table('notification_queue', sa.Column('message_id', sa.Integer(), primary_key=True, autoincrement=False))
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('reason', sa.String(8), nullable=False),
        sa.Column('chat_id', sa.Integer(), sa.ForeignKey('chats.id', ondelete='CASCADE'), nullable=False),
        sa.Column('thread_id', sa.Integer(), nullable=True),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False, server_default='1'),
        sa.Column('folds', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('state', sa.String(8), nullable=False, server_default='due'),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_notifications_due', 'notifications', ['state', 'due_at'])
    op.create_index('ix_notifications_user_chat', 'notifications', ['user_id', 'chat_id', 'kind', 'sent_at'])
    op.create_index('uq_notifications_folding', 'notifications', ['user_id', 'kind', 'chat_id'], unique=True,
                    sqlite_where=sa.text(FOLDING), postgresql_where=sa.text(FOLDING))
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(SQLITE_TRIGGER)
    else:
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS messages_queue_notifications')
    else:
        op.execute('DROP TRIGGER IF EXISTS messages_queue_notifications ON messages')
        op.execute('DROP FUNCTION IF EXISTS messages_queue_notifications()')
    op.drop_index('uq_notifications_folding', table_name='notifications')
    op.drop_index('ix_notifications_user_chat', table_name='notifications')
    op.drop_index('ix_notifications_due', table_name='notifications')
    op.drop_table('notifications')
    op.drop_table('notification_queue')
    op.drop_index('ix_push_subscriptions_user', table_name='push_subscriptions')
    op.drop_table('push_subscriptions')
    op.drop_index('ix_users_email', table_name='users')
    for column in ('dnd_end', 'dnd_start', 'time_zone', 'email_notifications', 'email'):
        op.drop_column('users', column)
