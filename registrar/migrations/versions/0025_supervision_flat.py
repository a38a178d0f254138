"""supervision desk at a year's history: partial indexes and unit_month

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 15:30:00.000000

The supervision desk's view grew with the history at 1 000 000 cases (165 ms
against 60 at 10 000). Three of its statements read far more than the page shows:

* the count of consultations closed in the period had no index to go on and read
  every case (100 ms at 1 M): ``ix_case_consultation_closed_at`` holds only
  consultations (a few a day);
* the list of the period's 200 newest efficiency events read every one of them
  through ``(action, at)``, joined each to its case and unit, and sorted them
  (4 800 rows, 48 000 buffers in the bench's month): ``ix_event_efficiency_at``
  holds only the events that charge a unit, in ``(at, id)`` order for a walk
  newest first that stops at the limit;
* the year's ranking summed every ``unit_day`` row of the year (17 000 at 1 M):
  ``unit_month`` holds the same figures summed per month, kept with them by the
  sweeper, filled here from the ``unit_day`` rows there are.

The predicates are the models' ``CASE_CONSULTATION`` and ``EVENT_EFFICIENCY``,
written out here as they were at this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSULTATION = "classification = 'consultation'"
EFFICIENCY = ("action IN ('late_read', 'overdue_handling', 'expired_unhandled', 'unit_notified', "
              "'efficiency_warning')")
INDEXES = (("ix_case_consultation_closed_at", "case", ["closed_at"], CONSULTATION),
           ("ix_event_efficiency_at", "event", ["at", "id"], EFFICIENCY))


_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_FIGURES = ("dispatched", "read_on_time", "read_late", "answered_on_time", "answered_late",
            "overdue_handling", "expired_unhandled", "passed_first_time", "reviewed", "returns",
            "redone", "ratings", "rating_sum", "callbacks", "callback_sum", "charges", "waived",
            "notices")
#: The first day of a ``unit_day`` row's month, per dialect.
_MONTH = {"postgresql": "CAST(date_trunc('month', day) AS date)",
          "sqlite": "strftime('%Y-%m-01', day)"}


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(op.f(name), table, columns, unique=False,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))
    op.create_table(
        'unit_month',
        sa.Column('unit_id', _BIG_ID, nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _FIGURES),
        sa.Column('month', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_unit_month_unit_id_unit')),
        sa.PrimaryKeyConstraint('month', 'unit_id', name=op.f('pk_unit_month')),
    )
    month = _MONTH[op.get_bind().dialect.name]
    figures = ", ".join(_FIGURES)
    op.execute(f"INSERT INTO unit_month (month, unit_id, {figures}) "
               f"SELECT {month}, unit_id, {', '.join(f'sum({f})' for f in _FIGURES)} "
               f"FROM unit_day GROUP BY {month}, unit_id")


def downgrade() -> None:
    op.drop_table('unit_month')
    for name, table, _, _ in INDEXES:
        op.drop_index(op.f(name), table_name=table)
