"""knowledge_entry: the policy answers agents read out on consultations (咨询直办)

A consultation answered on the call is an ordinary case (registered, R5) closed at
once; its classification ``consultation`` needs no schema change (the column has no
check constraint listing values). Numbered 0015 on top of 0012; re-chained at merge.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'knowledge_entry',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('unit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('valid_until IS NULL OR valid_until >= valid_from',
                           name=op.f('ck_knowledge_entry_period')),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_knowledge_entry_unit_id_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_entry')),
    )
    op.create_index('ix_knowledge_entry_category', 'knowledge_entry', ['category'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_knowledge_entry_category', table_name='knowledge_entry')
    op.drop_table('knowledge_entry')
