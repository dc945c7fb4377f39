"""api: access tokens for programs, bot accounts, and webhooks

A token is a person's or a bot's key to the API (/api/v1) and to the socket: stored as the
SHA-256 of its secret (shown once), with a prefix to tell tokens apart, its scopes and its last
use. A bot is a user row (is_bot) owned by a person (bot_owner_id): it joins chats and sends
like anyone, and signs in only with its tokens. A webhook belongs to a chat and posts (incoming:
a secret URL, stored as its SHA-256) or is posted to (outgoing: a URL, a signing secret, an
optional trigger word) as a bot.

Revision ID: 0016_api
Revises: 0015_notifications
Create Date: 2026-12-07 18:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_api'
down_revision = '0015_notifications'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('is_bot', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('users', sa.Column('bot_owner_id', sa.Integer(), nullable=True))
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('prefix', sa.String(16), nullable=False),
        sa.Column('secret_hash', sa.String(64), nullable=False),
        sa.Column('scopes', sa.String(32), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='SET NULL'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('secret_hash', name='uq_api_tokens_secret_hash'),
    )
    op.create_index('ix_api_tokens_user', 'api_tokens', ['user_id'])
    op.create_table(
        'webhooks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('chat_id', sa.Integer(), sa.ForeignKey('chats.id', ondelete='CASCADE'), nullable=False),
        sa.Column('bot_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('direction', sa.String(8), nullable=False),
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('secret_hash', sa.String(64), nullable=True),
        sa.Column('url', sa.Text(), nullable=True),
        sa.Column('signing_secret', sa.String(64), nullable=True),
        sa.Column('trigger', sa.String(32), nullable=True),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='SET NULL'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('secret_hash', name='uq_webhooks_secret_hash'),
    )
    op.create_index('ix_webhooks_chat', 'webhooks', ['chat_id'])


def downgrade():
    op.drop_index('ix_webhooks_chat', table_name='webhooks')
    op.drop_table('webhooks')
    op.drop_index('ix_api_tokens_user', table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_column('users', 'bot_owner_id')
    op.drop_column('users', 'is_bot')
