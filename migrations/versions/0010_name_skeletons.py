"""name skeletons: a display name that looks like another person's name is found by index

Revision ID: 0010_name_skeletons
Revises: 0009_search_by_chat
Create Date: 2026-12-06 23:50:00

"""
from alembic import op
import sqlalchemy as sa

from webchat.text_rules import name_skeleton


# revision identifiers, used by Alembic.
revision = '0010_name_skeletons'
down_revision = '0009_search_by_chat'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('username_skeleton', sa.Text(), nullable=True))
    op.add_column('users', sa.Column('display_skeleton', sa.Text(), nullable=True))
    op.create_index('ix_users_username_skeleton', 'users', ['username_skeleton'])
    op.create_index('ix_users_display_skeleton', 'users', ['display_skeleton'])
    # The names stored before keep every character: only their skeletons are filled in, so a new
    # name is checked against them too. Two people whose names already look alike keep them (the
    # page shows each one's @username beside the name); the check applies to names given from now.
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username', sa.String),
                     sa.column('display_name', sa.String), sa.column('username_skeleton', sa.Text),
                     sa.column('display_skeleton', sa.Text))
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.username, users.c.display_name)).all()
    if rows:
        connection.execute(
            users.update().where(users.c.id == sa.bindparam('user_id'))
            .values(username_skeleton=sa.bindparam('u'), display_skeleton=sa.bindparam('d')),
            [{'user_id': i, 'u': name_skeleton(u), 'd': name_skeleton(d)} for i, u, d in rows])


def downgrade():
    op.drop_index('ix_users_display_skeleton', table_name='users')
    op.drop_index('ix_users_username_skeleton', table_name='users')
    op.drop_column('users', 'display_skeleton')
    op.drop_column('users', 'username_skeleton')
