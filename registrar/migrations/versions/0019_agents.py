"""agent_presence: agents' SIP addresses and status for the phone line's hand-off

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'agent_presence',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('sip_uri', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('call_key', sa.String(length=64), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('console_seen', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('available', 'on_call', 'away')",
                           name=op.f('ck_agent_presence_status')),
        sa.ForeignKeyConstraint(['username'], ['account.username'],
                                name=op.f('fk_agent_presence_username_account')),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_agent_presence')),
    )


def downgrade() -> None:
    op.drop_table('agent_presence')
