"""workspace: public and private channels, workspace roles and settings, invitations, audit log

Every group chat stored before becomes a private channel (seen by its members only, as before),
its first admin its owner; every person a member, the first account the owner. A workspace that
already has people keeps open registration, as it had: its owner changes that in Administration.

Revision ID: 0013_workspace
Revises: 0012_avatars
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa

from webchat.text_rules import name_skeleton


# revision identifiers, used by Alembic.
revision = '0013_workspace'
down_revision = '0012_avatars'
branch_labels = None
depends_on = None

# The audit log is append-only: the database itself refuses to change or delete a row.
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END""" for verb in ("UPDATE", "DELETE")]
POSTGRESQL_FUNCTION = """
    CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only';
    END $$ LANGUAGE plpgsql"""
POSTGRESQL_TRIGGER = """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"""


def upgrade():
    op.add_column('users', sa.Column('role', sa.String(8), nullable=False, server_default='member'))
    # Columns added in place: a batch copy of chats on SQLite would cascade the drop of the old
    # table to every message (foreign keys are on), and messages' insert trigger names chats.
    op.add_column('chats', sa.Column('name_skeleton', sa.Text(), nullable=True))
    op.add_column('chats', sa.Column('is_public', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('chats', sa.Column('topic', sa.Text(), nullable=False, server_default=sa.text("''")))
    op.add_column('chats', sa.Column('description', sa.Text(), nullable=False, server_default=sa.text("''")))
    op.add_column('chats', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('chats', sa.Column('is_default', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('chats', sa.Column('owner_id', sa.Integer(), nullable=True))
    op.create_index('uq_chats_public_name', 'chats', ['name_skeleton'], unique=True,
                    sqlite_where=sa.text('is_public'), postgresql_where=sa.text('is_public'))

    op.create_table(
        'workspace',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(80), nullable=False),
        sa.Column('registration', sa.String(8), nullable=False),
        sa.Column('channel_creators', sa.String(8), nullable=False),
        sa.Column('edit_window_seconds', sa.Integer(), nullable=True),
        sa.Column('max_upload_mb', sa.Float(), nullable=True),
    )
    op.create_table(
        'invitations',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='SET NULL'), nullable=True),
        sa.Column('email', sa.String(254), nullable=True),
        sa.Column('role', sa.String(8), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('max_uses', sa.Integer(), nullable=False),
        sa.Column('uses', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('actor_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='SET NULL'), nullable=True),
        sa.Column('actor_name', sa.String(32), nullable=True),
        sa.Column('action', sa.String(40), nullable=False),
        sa.Column('target', sa.Text(), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_audit_events_created', 'audit_events', ['created_at'])
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)

    connection = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('role', sa.String))
    first = connection.scalar(sa.select(sa.func.min(users.c.id)))
    if first is not None:
        connection.execute(users.update().where(users.c.id == first).values(role='owner'))
        workspace = sa.table('workspace', sa.column('id', sa.Integer), sa.column('name', sa.String),
                             sa.column('registration', sa.String), sa.column('channel_creators', sa.String))
        connection.execute(workspace.insert().values(id=1, name='webchat', registration='open',
                                                     channel_creators='members'))
    chats = sa.table('chats', sa.column('id', sa.Integer), sa.column('kind', sa.String), sa.column('name', sa.String),
                     sa.column('name_skeleton', sa.Text), sa.column('owner_id', sa.Integer))
    memberships = sa.table('memberships', sa.column('id', sa.Integer), sa.column('chat_id', sa.Integer),
                           sa.column('user_id', sa.Integer), sa.column('role', sa.String))
    rows = connection.execute(sa.select(chats.c.id, chats.c.name).where(chats.c.kind == 'group')).all()
    if rows:
        first_admin = (sa.select(memberships.c.user_id)
                       .where(memberships.c.chat_id == sa.bindparam('chat_id'), memberships.c.role == 'admin')
                       .order_by(memberships.c.id).limit(1).scalar_subquery())
        connection.execute(
            chats.update().where(chats.c.id == sa.bindparam('chat_id'))
            .values(name_skeleton=sa.bindparam('skeleton'), owner_id=first_admin),
            [{'chat_id': i, 'skeleton': name_skeleton(n) if n else None} for i, n in rows])


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS audit_events_no_update')
        op.execute('DROP TRIGGER IF EXISTS audit_events_no_delete')
    else:
        op.execute('DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS audit_events_append_only()')
    op.drop_index('ix_audit_events_created', table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('invitations')
    op.drop_table('workspace')
    op.drop_index('uq_chats_public_name', table_name='chats')
    for column in ('owner_id', 'is_default', 'archived_at', 'description', 'topic', 'is_public', 'name_skeleton'):
        op.drop_column('chats', column)
    op.drop_column('users', 'role')
