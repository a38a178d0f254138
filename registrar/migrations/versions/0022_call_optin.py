"""call opt-in: a mobile's citizen may choose answers by call (答复方式：电话)

A landline is always called (it takes no SMS); a mobile is texted unless its
citizen chose calls where the reply address was taken (the web form, the agent
console, the API). The choice belongs to the contact (``kind``, ``address``), so
every later notice to that number honours it. Existing contacts keep SMS.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('prefers_call', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('prefers_call')
