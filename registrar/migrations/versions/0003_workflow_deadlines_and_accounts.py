"""workflow, deadlines and accounts

Revision ID: 0003
Revises: 0002
Adds the workflow's columns to cases and assignments, the deadline table (one
row per clock, swept), accounts and API tokens; widens the status checks.

Create Date: 2026-11-24 17:34:39.501541
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CASE_STATUS_OLD = "'registered', 'not_accepted', 'open', 'answered', 'published', 'closed'"
CASE_STATUS_NEW = ("'registered', 'not_accepted', 'accepted', 'dispatched', 'split', 'answered', "
                   "'closed', 'stopped'")
STATE_OLD = ("'queued', 'dispatched', 'read', 'drafted', 'approved', 'answered', 'under_review', "
             "'passed', 'redo', 'return_requested', 'returned', 'done', 'withdrawn'")
STATE_NEW = ("'queued', 'dispatched', 'read', 'drafted', 'approved', 'submitted', 'passed', 'redo', "
             "'contributed', 'return_requested', 'done', 'withdrawn'")
ROLES = "'bureau', 'lead', 'co', 'coordination'"


def _checks(case_status: str, state: str, *, roles: bool) -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_case_status'), type_='check')
        batch_op.create_check_constraint('status', f"status IN ({case_status})")
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_assignment_state'), type_='check')
        batch_op.create_check_constraint('state', f"state IN ({state})")
        if roles:
            batch_op.create_check_constraint('role', f"role IN ({ROLES})")
        else:
            batch_op.drop_constraint(op.f('ck_assignment_role'), type_='check')


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('unit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('agent', 'city_bureau', 'district_bureau', 'unit_handler', 'unit_leader', 'discipline', 'efficiency', 'admin')", name=op.f('ck_account_role')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_account_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('username', name=op.f('uq_account_username'))
    )
    op.create_table('api_token',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_api_token_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_api_token_token_sha256'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_account_id'), ['account_id'], unique=False)

    op.create_table('deadline',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assignment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('working_days', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('warn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('warned', sa.Boolean(), nullable=False),
    sa.Column('met_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('missed', sa.Boolean(), nullable=False),
    sa.CheckConstraint("kind IN ('dispatch', 'read', 'answer', 'review', 'redo', 'return_decision')", name=op.f('ck_deadline_kind')),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], name=op.f('fk_deadline_assignment_id_assignment')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_deadline_case_id_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline'))
    )
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deadline_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_deadline_open_due', ['met_at', 'missed', 'due_at'], unique=False)
        batch_op.create_index('ix_deadline_open_warn', ['met_at', 'warned', 'warn_at'], unique=False)

    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('dispatched_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('return_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('return_refused', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('return_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('proposed_unit', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('late_read', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('overdue_handling', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('expired_unhandled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('answer_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answer_done', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answer_problems', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answer_measures', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('proposes_private', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('approved_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('review_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('review_comment', sa.Text(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_assignment_due_at'))
        batch_op.create_foreign_key(batch_op.f('fk_assignment_parent_id_assignment'), 'assignment', ['parent_id'], ['id'])
        batch_op.drop_column('due_at')
        batch_op.drop_column('due_provisional')

    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('emergency', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('screening_reason', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('classification', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('internal_reason', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('reserved', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('parent_case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('unit_proposes_private', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('publication', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('answer_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('published_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_case_parent_case_id'), ['parent_case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_published_at'), ['published_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_case_parent_case_id_case'), 'case', ['parent_case_id'], ['id'])


    _checks(CASE_STATUS_NEW, STATE_NEW, roles=True)

def downgrade() -> None:
    _checks(CASE_STATUS_OLD, STATE_OLD, roles=False)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_case_parent_case_id_case'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_case_published_at'))
        batch_op.drop_index(batch_op.f('ix_case_parent_case_id'))
        batch_op.drop_column('closed_at')
        batch_op.drop_column('published_at')
        batch_op.drop_column('published_text')
        batch_op.drop_column('answer_text')
        batch_op.drop_column('publication')
        batch_op.drop_column('unit_proposes_private')
        batch_op.drop_column('parent_case_id')
        batch_op.drop_column('reserved')
        batch_op.drop_column('internal_reason')
        batch_op.drop_column('classification')
        batch_op.drop_column('screening_reason')
        batch_op.drop_column('emergency')

    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_provisional', sa.BOOLEAN(), nullable=False))
        batch_op.add_column(sa.Column('due_at', sa.DATETIME(), nullable=True))
        batch_op.drop_constraint(batch_op.f('fk_assignment_parent_id_assignment'), type_='foreignkey')
        batch_op.create_index(batch_op.f('ix_assignment_due_at'), ['due_at'], unique=False)
        batch_op.drop_column('review_comment')
        batch_op.drop_column('review_failures')
        batch_op.drop_column('approved_by')
        batch_op.drop_column('proposes_private')
        batch_op.drop_column('answer_measures')
        batch_op.drop_column('answer_problems')
        batch_op.drop_column('answer_done')
        batch_op.drop_column('answer_text')
        batch_op.drop_column('expired_unhandled')
        batch_op.drop_column('overdue_handling')
        batch_op.drop_column('late_read')
        batch_op.drop_column('proposed_unit')
        batch_op.drop_column('return_reason')
        batch_op.drop_column('return_refused')
        batch_op.drop_column('return_until')
        batch_op.drop_column('dispatched_by')
        batch_op.drop_column('parent_id')

    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_open_warn')
        batch_op.drop_index('ix_deadline_open_due')
        batch_op.drop_index(batch_op.f('ix_deadline_case_id'))
        batch_op.drop_index(batch_op.f('ix_deadline_assignment_id'))

    op.drop_table('deadline')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_account_id'))

    op.drop_table('api_token')
    op.drop_table('account')
