"""per-chat message sequence numbers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 08:09:48.674113

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('chats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seq', sa.Integer(), server_default='0', nullable=False))

    # Number the messages already stored, 1, 2, 3… per chat in id order, before the column
    # becomes required and unique. (Window functions: SQLite 3.25+ and PostgreSQL.)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
    op.execute("""
        UPDATE messages SET seq = (
            SELECT numbered.n FROM (
                SELECT id, ROW_NUMBER() OVER (PARTITION BY chat_id ORDER BY id) AS n FROM messages
            ) AS numbered WHERE numbered.id = messages.id)
    """)
    op.execute("""
        UPDATE chats SET last_seq = COALESCE((SELECT MAX(seq) FROM messages WHERE messages.chat_id = chats.id), 0)
    """)
    # SQLite rebuilds the table for this: keep AUTOINCREMENT (ids are cursors, never reused).
    with op.batch_alter_table('messages', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint('uq_messages_chat_seq', ['chat_id', 'seq'])


def downgrade():
    with op.batch_alter_table('messages', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint('uq_messages_chat_seq', type_='unique')
        batch_op.drop_column('seq')

    with op.batch_alter_table('chats', schema=None) as batch_op:
        batch_op.drop_column('last_seq')

