"""cockpit summaries kept by the sweeper, call-back ratings and numbered bulletins (issue 15)

unit_day and intake_hour are the per-day figures the cockpit and the bulletins
read (forwarder/cockpit_summary.py fills them, summary_mark says how far);
callback_rating is the service centre's call-back satisfaction; bulletin keeps
each weekly and monthly bulletin (R11.1) as HTML and PDF. An index on
assignment (unit_id, created_at) serves the drill-down from a figure to its cases,
ones on assignment (created_at) and finding (created_at) a period city-wide.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_FIGURES = ("dispatched", "read_on_time", "read_late", "answered_on_time", "answered_late",
            "overdue_handling", "expired_unhandled", "passed_first_time", "reviewed", "returns",
            "redone", "ratings", "rating_sum", "callbacks", "callback_sum", "charges", "waived",
            "notices")

_SOURCES = ("case", "event", "rating", "callback", "finding", "decision")


def upgrade() -> None:
    op.create_table(
        'unit_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('unit_id', _BIG_ID, nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _FIGURES),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_unit_day_unit_id_unit')),
        sa.PrimaryKeyConstraint('day', 'unit_id', name=op.f('pk_unit_day')),
    )
    op.create_index('ix_unit_day_unit_id_day', 'unit_day', ['unit_id', 'day'])
    op.create_table(
        'intake_hour',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('hour', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('district', sa.String(length=64), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'hour', 'channel', 'district', name=op.f('pk_intake_hour')),
    )
    marks = op.create_table(
        'summary_mark',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_summary_mark')),
    )
    # One row per source from the start, so that concurrent sweepers lock it (FOR UPDATE)
    # instead of racing to insert it.
    op.bulk_insert(marks, [{'name': name, 'last_id': 0} for name in _SOURCES])
    op.create_table(
        'callback_rating',
        sa.Column('id', _BIG_ID, nullable=False),
        sa.Column('case_id', _BIG_ID, nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_callback_rating_score')),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_callback_rating_case_id_case')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_rating')),
        sa.UniqueConstraint('case_id', name=op.f('uq_callback_rating_case_id')),
    )
    op.create_table(
        'bulletin',
        sa.Column('id', _BIG_ID, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('scope', sa.String(length=64), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('serial', sa.Integer(), nullable=False),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('html', sa.Text(), nullable=False),
        sa.Column('pdf', sa.LargeBinary(), nullable=False),
        sa.Column('made_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('weekly', 'monthly')", name=op.f('ck_bulletin_kind')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletin')),
        sa.UniqueConstraint('kind', 'scope', 'first_day', name='uq_bulletin_kind_scope_first_day'),
        sa.UniqueConstraint('kind', 'scope', 'year', 'serial',
                            name='uq_bulletin_kind_scope_year_serial'),
    )
    op.create_index('ix_assignment_unit_id_created_at', 'assignment', ['unit_id', 'created_at'])
    op.create_index('ix_finding_created_at', 'finding', ['created_at'])
    op.create_index('ix_assignment_created_at', 'assignment', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_assignment_created_at', table_name='assignment')
    op.drop_index('ix_finding_created_at', table_name='finding')
    op.drop_index('ix_assignment_unit_id_created_at', table_name='assignment')
    op.drop_table('bulletin')
    op.drop_table('callback_rating')
    op.drop_table('summary_mark')
    op.drop_table('intake_hour')
    op.drop_index('ix_unit_day_unit_id_day', table_name='unit_day')
    op.drop_table('unit_day')
