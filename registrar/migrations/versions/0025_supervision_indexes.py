"""supervision desk partial indexes: consultations by close, efficiency events newest first

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 15:30:00.000000

The supervision desk's view grew with the history at 1 000 000 cases (165 ms
against 60 at 10 000). Two of its statements read far more than the page shows:
the count of consultations closed in the period had no index to go on and read
every case (100 ms at 1 M), and the list of the period's 200 newest efficiency
events read every one of them through ``(action, at)``, joined each to its case
and unit, and sorted them (4 800 rows, 48 000 buffers in the bench's month). Both
indexes are partial, so they hold only what the desk reads: consultations
(a few a day) and the events that charge a unit, in ``(at, id)`` order for a walk
newest first that stops at the limit. The predicates are the models'
``CASE_CONSULTATION`` and ``EVENT_EFFICIENCY``, written out here as they were at
this revision.
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


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(op.f(name), table, columns, unique=False,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade() -> None:
    for name, table, _, _ in INDEXES:
        op.drop_index(op.f(name), table_name=table)
