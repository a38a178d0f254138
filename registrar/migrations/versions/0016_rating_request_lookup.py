"""rating request lookup: the open 回访 request of a phone number without reading every notice

A citizen's SMS "1"/"2"/"3" is a rating only when a ``rating_request`` notice
was sent to that number within the window (``forwarder.callbacks.open_request``).
Every inbound bare digit asks that question, so ``ix_notice_kind_address``
(kind, address) finds the number's requests directly instead of scanning the
outbox, which holds every notice ever sent.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index('ix_notice_kind_address', ['kind', 'address'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_kind_address')
