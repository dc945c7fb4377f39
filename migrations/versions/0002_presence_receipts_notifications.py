"""presence, receipts and notification settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:56:44.134413

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_delivered_message_id', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('notify', sa.String(length=8), server_default='all', nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hide_presence', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('send_read_receipts', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('send_read_receipts')
        batch_op.drop_column('hide_presence')

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('notify')
        batch_op.drop_column('last_delivered_message_id')

