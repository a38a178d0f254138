"""call-back follow-ups: a rating per request (redo asks again), call-back findings

``callback_rating`` was one per case; a case the city bureau orders redone after a
dissatisfied call-back (责成重新办理) is asked again once its new answer is out,
so a rating now belongs to the ``rating_request`` notice it answers
(``request_notice_id``, unique) and a case may have several. Existing ratings are
linked to their case's newest request. ``finding.kind`` gains ``callback``: a
dissatisfied call-back submitted to the efficiency office (提交效能办).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_KINDS_BEFORE = "kind IN ('R11.2b', 'notice')"
_KINDS_AFTER = "kind IN ('R11.2b', 'notice', 'callback')"


def upgrade() -> None:
    with op.batch_alter_table('callback_rating') as batch:
        batch.add_column(sa.Column('request_notice_id', _BIG_ID, nullable=True))
        batch.drop_constraint(op.f('uq_callback_rating_case_id'), type_='unique')
        batch.create_index(op.f('ix_callback_rating_case_id'), ['case_id'], unique=False)
        batch.create_unique_constraint(op.f('uq_callback_rating_request_notice_id'),
                                       ['request_notice_id'])
        batch.create_foreign_key(op.f('fk_callback_rating_request_notice_id_notice'), 'notice',
                                 ['request_notice_id'], ['id'])
    op.execute("UPDATE callback_rating SET request_notice_id = (SELECT max(notice.id) FROM notice "
               "WHERE notice.case_id = callback_rating.case_id AND notice.kind = 'rating_request')")
    with op.batch_alter_table('finding') as batch:
        batch.drop_constraint(op.f('ck_finding_kind'), type_='check')
        batch.create_check_constraint('kind', _KINDS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM finding_decision WHERE finding_id IN "
               "(SELECT id FROM finding WHERE kind = 'callback')")
    op.execute("DELETE FROM finding WHERE kind = 'callback'")
    with op.batch_alter_table('finding') as batch:
        batch.drop_constraint(op.f('ck_finding_kind'), type_='check')
        batch.create_check_constraint('kind', _KINDS_BEFORE)
    # Only the newest rating of each case survives the way back to one per case.
    op.execute("DELETE FROM callback_rating WHERE id NOT IN "
               "(SELECT max(id) FROM callback_rating GROUP BY case_id)")
    with op.batch_alter_table('callback_rating') as batch:
        batch.drop_constraint(op.f('fk_callback_rating_request_notice_id_notice'), type_='foreignkey')
        batch.drop_constraint(op.f('uq_callback_rating_request_notice_id'), type_='unique')
        batch.drop_index(op.f('ix_callback_rating_case_id'))
        batch.create_unique_constraint(op.f('uq_callback_rating_case_id'), ['case_id'])
        batch.drop_column('request_notice_id')
