"""case contacts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 17:32:23.351847
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('case_contact',
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_case_contact_case_id_case')),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_case_contact_contact_id_contact')),
    sa.PrimaryKeyConstraint('case_id', 'contact_id', name=op.f('pk_case_contact'))
    )


def downgrade() -> None:
    op.drop_table('case_contact')
