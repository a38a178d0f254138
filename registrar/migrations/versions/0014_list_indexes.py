"""list indexes: the bureau's publication list and status search in index order; phone search

``ix_case_status_registered_at`` (status, registered_at, id) lets a list of one
status ordered by registration stop after its page instead of sorting every
case of that status (it also serves every lookup ``ix_case_status`` served,
which it replaces). ``ix_case_reply_address`` lets a phone search find cases by
their reply address without reading the whole table. Measured by
``python -m bench --parts pages`` at 1 000 000 cases.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_status_registered_at', ['status', 'registered_at', 'id'], unique=False)
        batch_op.create_index('ix_case_reply_address', ['reply_address'], unique=False)
        batch_op.drop_index('ix_case_status')


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_status', ['status'], unique=False)
        batch_op.drop_index('ix_case_reply_address')
        batch_op.drop_index('ix_case_status_registered_at')
