"""queue partial index: unmet clocks by kind and due time

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-02 19:00:00.000000

The bureau's queue lists each section (answers to review, returns to decide,
items to dispatch) by its clock, most urgent first. It found the section's
assignments by state and joined their clocks, so every view read and sorted all
the open items in that state before taking a page: at 1 000 000 cases the city's
review section read 2 950 submitted answers for 51 rows. This index holds only
unmet clocks (``met_at IS NULL``, the queue's join condition; a missed clock is
still unmet and still listed), by kind and due time, so the section walks its
kind's clocks in page order and stops at the page; ``assignment_id`` is in the
key so the walk reads nothing else to find the assignment. The predicate is the
models' ``DEADLINE_UNMET``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNMET = "met_at IS NULL"


def upgrade() -> None:
    op.create_index(op.f('ix_deadline_unmet_kind_due'), 'deadline', ['kind', 'due_at', 'assignment_id'],
                    unique=False, postgresql_where=sa.text(UNMET), sqlite_where=sa.text(UNMET))


def downgrade() -> None:
    op.drop_index(op.f('ix_deadline_unmet_kind_due'), table_name='deadline')
