"""notice template values

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00.000000

A notice keeps the values its template was rendered with, so a fallback to
another channel is rendered again for that channel (an email must not say
"reply CX …"). Notices written before this revision have none and fall back
with their text as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template_values', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_column('template_values')
