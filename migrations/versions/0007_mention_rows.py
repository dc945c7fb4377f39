"""mentions as rows: the "@" badge counts by index from the read marker on

Revision ID: 0007_mention_rows
Revises: 0006_login_sessions_guard
Create Date: 2026-11-26 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_mention_rows'
down_revision = '0006_login_sessions_guard'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mentions',
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('chat_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['chat_id'], ['chats.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('message_id', 'user_id'),
    )
    op.create_index('ix_mentions_user_chat_message', 'mentions', ['user_id', 'chat_id', 'message_id'])
    # Messages stored before this revision name their mentions in messages.mentions (space-separated
    # usernames, each a user's who was a member when it was sent). Usernames hold "_", a LIKE
    # wildcard: escaped, "bob_x" never matches "bobax".
    op.execute(r"""
        INSERT INTO mentions (message_id, user_id, chat_id)
        SELECT messages.id, users.id, messages.chat_id
        FROM messages JOIN users
          ON (' ' || messages.mentions || ' ') LIKE ('% ' || replace(users.username, '_', '\_') || ' %') ESCAPE '\'
        WHERE messages.mentions != ''
    """)


def downgrade():
    op.drop_index('ix_mentions_user_chat_message', table_name='mentions')
    op.drop_table('mentions')
