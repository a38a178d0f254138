"""findings a unit contests, and the office withdraws (issue 15.3)

The contest reuses the finding and finding_decision tables: only the lists of
allowed statuses and decisions grow, so the check constraints are replaced
(batch mode: SQLite rebuilds the table, PostgreSQL alters it in place).

Revision ID: 0011
Revises: 0010 (re-chained at merge if another 0011 lands first)
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS_OLD = "status IN ('charged', 'confirmed', 'waived')"
_STATUS_NEW = "status IN ('charged', 'confirmed', 'waived', 'contested', 'withdrawn')"
_DECISION_OLD = "decision IN ('confirm', 'waive', 'lead_unjustified', 'lead_justified', 'issue')"
_DECISION_NEW = ("decision IN ('confirm', 'waive', 'lead_unjustified', 'lead_justified', 'issue', "
                 "'contest', 'uphold', 'withdraw')")


def _replace(table: str, name: str, condition: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
        batch_op.create_check_constraint(op.f(f'ck_{table}_{name}'), condition)


def upgrade() -> None:
    _replace('finding', 'status', _STATUS_NEW)
    _replace('finding_decision', 'decision', _DECISION_NEW)


def downgrade() -> None:
    # Contested findings fall back to standing, withdrawn ones to waived (out of the figures
    # either way); the unit's contests and the office's answers leave the history.
    op.execute("UPDATE finding SET status = 'confirmed' WHERE status = 'contested'")
    op.execute("UPDATE finding SET status = 'waived' WHERE status = 'withdrawn'")
    op.execute("DELETE FROM finding_decision WHERE decision IN ('contest', 'uphold', 'withdraw')")
    _replace('finding_decision', 'decision', _DECISION_OLD)
    _replace('finding', 'status', _STATUS_OLD)
