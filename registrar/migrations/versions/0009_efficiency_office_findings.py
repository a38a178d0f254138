"""efficiency office findings and decisions (R11.2b)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('finding',
    sa.Column('id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('case_id', _ID, nullable=True),
    sa.Column('assignment_id', _ID, nullable=True),
    sa.Column('unit_id', _ID, nullable=False),
    sa.Column('late_unit_id', _ID, nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('persons', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('R11.2b', 'notice')", name=op.f('ck_finding_kind')),
    sa.CheckConstraint("status IN ('charged', 'confirmed', 'waived')", name=op.f('ck_finding_status')),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'],
                            name=op.f('fk_finding_assignment_id_assignment')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_finding_case_id_case')),
    sa.ForeignKeyConstraint(['late_unit_id'], ['unit.id'], name=op.f('fk_finding_late_unit_id_unit')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_finding_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding')),
    sa.UniqueConstraint('assignment_id', 'kind', name='uq_finding_assignment_id_kind')
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index('ix_finding_case_id', ['case_id'], unique=False)
        batch_op.create_index('ix_finding_unit_id_status', ['unit_id', 'status'], unique=False)
    op.create_table('finding_decision',
    sa.Column('id', _ID, nullable=False),
    sa.Column('finding_id', _ID, nullable=False),
    sa.Column('decision', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('office_unit_id', _ID, nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.CheckConstraint("decision IN ('confirm', 'waive', 'lead_unjustified', 'lead_justified', "
                       "'issue')", name=op.f('ck_finding_decision_decision')),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'],
                            name=op.f('fk_finding_decision_finding_id_finding')),
    sa.ForeignKeyConstraint(['office_unit_id'], ['unit.id'],
                            name=op.f('fk_finding_decision_office_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_decision'))
    )
    with op.batch_alter_table('finding_decision', schema=None) as batch_op:
        batch_op.create_index('ix_finding_decision_finding_id', ['finding_id'], unique=False)


def downgrade() -> None:
    op.drop_table('finding_decision')
    op.drop_table('finding')
