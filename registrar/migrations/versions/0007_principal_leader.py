"""principal leader on the roster (R10.3)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 09:00:00.000000

The roster gets a third duty, the unit's principal leader (主要领导), whom
Article 10 charges for missed work traced to unassigned responsibilities.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _duty(values: str) -> None:
    with op.batch_alter_table('roster_entry', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_roster_entry_duty'), type_='check')
        batch_op.create_check_constraint(op.f('ck_roster_entry_duty'), f"duty IN ({values})")


def upgrade() -> None:
    _duty("'principal', 'leader', 'handler'")


def downgrade() -> None:
    op.execute("DELETE FROM roster_entry WHERE duty = 'principal'")
    _duty("'leader', 'handler'")
