"""sweeper partial indexes: open clocks by due time, unwarned ones by warning time

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02 15:30:00.000000

Each sweep claims the open clocks that ran out (``due_at <= now``, oldest first)
and those whose warning time came (``warn_at <= now``), a batch at a time. With
only ``(met_at, missed, due_at)`` and ``(met_at, warned, warn_at)`` to go on, the
planner, which cannot see that of millions of clocks only the few open ones
that ran out since the last run match, estimated hundreds of thousands of rows
and scanned and sorted the table: at 1 000 000 open clocks about half a second
a batch. These indexes hold only open (and unwarned) clocks in claim order, so
a batch is a walk of its first entries. The predicates are the models'
``DEADLINE_OPEN`` and ``DEADLINE_UNWARNED`` as each dialect writes them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (name, column, predicate on PostgreSQL, on SQLite): SQLite matches a partial index only by
#: the query's own terms, and SQLAlchemy writes ``IS false`` there as ``IS 0``.
INDEXES = (
    ("ix_deadline_due_open", "due_at", "met_at IS NULL AND missed IS false",
     "met_at IS NULL AND missed IS 0"),
    ("ix_deadline_warn_open", "warn_at", "met_at IS NULL AND missed IS false AND warned IS false",
     "met_at IS NULL AND missed IS 0 AND warned IS 0"),
)


def upgrade() -> None:
    for name, column, postgresql, sqlite in INDEXES:
        op.create_index(op.f(name), 'deadline', [column, 'id'], unique=False,
                        postgresql_where=sa.text(postgresql), sqlite_where=sa.text(sqlite))


def downgrade() -> None:
    for name, _, _, _ in INDEXES:
        op.drop_index(op.f(name), table_name='deadline')
