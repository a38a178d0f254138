"""queue indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 18:33:46.582113
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index('ix_assignment_state', ['state'], unique=False)

    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_status', ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_status')

    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_assignment_state')

