"""case-less notices: keyword replies that concern no case go through the outbox too

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 11:00:00.000000

An SMS keyword answer that concerns no case ("case not found", the ``CX`` help
text, ``TD`` from a number that filed nothing) used to be sent by the modem
itself, because a notice needed a case; it left no trace and was lost when the
modem was down. ``notice.case_id`` may now be NULL for such replies, so they
are outbox rows like every notice. Going down deletes those rows (they have no
case to belong to in the older schema).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.alter_column('case_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM notice WHERE case_id IS NULL")
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.alter_column('case_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=False)
