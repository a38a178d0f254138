"""inbox partial indexes: a unit's open assignments, oldest first

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 12:00:00.000000

A unit's inbox lists its non-bureau assignments still owing work, oldest first
(a leader's drafts to approve before them). With only ``(unit_id, state)`` to
go on, every view read all of the unit's owing rows and their cases and sorted
them: at 1 000 000 cases a busy unit owes about 1 000 items (late ones pile up
over a year), ten times the 10 000-case figure, so the page cost grew with
them. These two partial indexes hold only open work (small, cheap to keep) in
page order, so a page is a walk of its first 51 entries. The predicates are
the models' ``OWING_WHERE`` and ``DRAFTED_WHERE``, written out here as they
were at this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWING = ("role <> 'bureau' AND state IN ('dispatched', 'read', 'drafted', 'approved', 'redo', "
         "'return_requested')")
DRAFTED = "role <> 'bureau' AND state = 'drafted'"
INDEXES = (("ix_assignment_owing", OWING), ("ix_assignment_drafted", DRAFTED))


def upgrade() -> None:
    for name, where in INDEXES:
        op.create_index(op.f(name), 'assignment', ['unit_id', 'created_at', 'id'], unique=False,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(op.f(name), table_name='assignment')
