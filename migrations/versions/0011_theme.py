"""theme: each user's colour theme, "system" (follow the device), "light" or "dark"

Revision ID: 0011_theme
Revises: 0010_name_skeletons
Create Date: 2026-12-07 08:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_theme'
down_revision = '0010_name_skeletons'
branch_labels = None
depends_on = None


def upgrade():
    # Everyone starts by following their device's light or dark setting, as before this column.
    op.add_column('users', sa.Column('theme', sa.String(8), nullable=False, server_default='system'))


def downgrade():
    op.drop_column('users', 'theme')
