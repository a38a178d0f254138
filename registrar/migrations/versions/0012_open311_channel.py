"""open311_client: the Open311 channel's API clients (keys stored as SHA-256)

The ``case.channel`` column has no check constraint listing channels, so the new
channel value ``open311`` needs no schema change of its own.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'open311_client',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('key_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_client')),
        sa.UniqueConstraint('key_sha256', name=op.f('uq_open311_client_key_sha256')),
        sa.UniqueConstraint('name', name=op.f('uq_open311_client_name')),
    )


def downgrade() -> None:
    op.drop_table('open311_client')
