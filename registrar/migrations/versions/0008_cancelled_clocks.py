"""cancelled clocks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:30:00.000000

A clock whose duty went away (withdrawn, released, taken back) is closed as
``cancelled`` instead of looking met, and left out of the timeliness figures.
Clocks closed before this revision cannot be told apart and stay as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.create_check_constraint(
            op.f('ck_deadline_cancelled'), "NOT cancelled OR (met_at IS NOT NULL AND NOT missed)")


def downgrade() -> None:
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deadline_cancelled'), type_='check')
        batch_op.drop_column('cancelled')
