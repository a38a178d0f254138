"""desk sessions, throttle counters, the bureau's public summary

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'desk_session',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_desk_session_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_session')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_desk_session_token_sha256')),
    )
    with op.batch_alter_table('desk_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desk_session_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_desk_session_expires_at'), ['expires_at'], unique=False)
    op.create_table(
        'throttle',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_throttle')),
    )
    with op.batch_alter_table('throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_throttle_window_start'), ['window_start'], unique=False)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_summary', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('published_summary')
    with op.batch_alter_table('throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_throttle_window_start'))
    op.drop_table('throttle')
    with op.batch_alter_table('desk_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desk_session_expires_at'))
        batch_op.drop_index(batch_op.f('ix_desk_session_account_id'))
    op.drop_table('desk_session')
