"""unit.leader_submits: a unit's setting that its leader's approval also sends the answer on

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('unit') as batch:
        batch.add_column(sa.Column('leader_submits', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('unit') as batch:
        batch.drop_column('leader_submits')
