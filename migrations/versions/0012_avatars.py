"""avatars: a person's uploaded picture, by the storage name of its file (core/avatars.py)

Revision ID: 0012_avatars
Revises: 0011_theme
Create Date: 2026-12-07 08:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_avatars'
down_revision = '0011_theme'
branch_labels = None
depends_on = None


def upgrade():
    # NULL: no picture; the initials on the person's colour show instead.
    op.add_column('users', sa.Column('avatar_name', sa.String(32), nullable=True))


def downgrade():
    op.drop_column('users', 'avatar_name')
