"""R9.3: what is published hides personal data — the citizen's name wherever it appears,
third parties' names and homes below the street — and keeps what was done, and where."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from desks.portal.queries import public_summary
from forwarder import workflow as wf
from forwarder.publication import mask_for_publication, mask_personal_data
from forwarder.workflow_base import Context
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, URBAN, answer_and_submit, dispatched

TABLE = [
    ("我叫张三，温泉路12号3单元502室楼下路灯不亮", ["张三", "12号", "502"], ["温泉路", "路灯不亮"]),
    ("邻居王五家在五四路88号2栋天天装修", ["王五", "88号", "2栋"], ["五四路", "装修"]),
    ("物业经理赵六称不归他管", ["赵六"], ["物业经理", "不归他管"]),
    ("李四先生反映地铁1号线出口积水", ["李四"], ["1号线", "先生反映"]),
    ("本人欧阳明华，手机13905910001", ["欧阳明华", "13905910001"], ["0001"]),
]


@pytest.mark.parametrize(("text", "hidden", "kept"), TABLE, ids=[t[0][:8] for t in TABLE])
def test_R9_3_masks_names_and_homes_below_the_street(text: str, hidden: list[str],
                                                     kept: list[str]) -> None:
    out = mask_personal_data(text)
    for secret in hidden:
        assert secret not in out, (secret, out)
    for plain in kept:
        assert plain in out, (plain, out)


def test_R9_3_a_name_found_in_either_text_is_masked_in_both() -> None:
    complaint, answer = mask_for_publication("我叫张三，路灯不亮", "已联系张三，路灯已修复。")
    assert (complaint, answer) == ("我叫张*，路灯不亮", "已联系张*，路灯已修复。")
    complaint, answer = mask_for_publication("张三反映路灯不亮", "已联系诉求人张三，路灯已修复。")
    assert "张三" not in complaint and "张三" not in answer


async def test_R9_3_published_answer_hides_the_citizens_name_from_the_complaint(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("我叫张三，温泉路12号3单元502室楼下路灯不亮")
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN, "已联系张三，温泉路12号门前路灯已修复。")
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert case.published_text == "已联系张*，温泉路**门前路灯已修复。"


async def test_R9_3_older_published_case_hides_a_name_marked_only_in_the_answer(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    """Cases published before the summary was stored are masked on reading, as at publication."""
    case = await make.case("张三反映温泉路路灯不亮")
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN, "已联系诉求人张三，路灯已修复。")
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert case.published_summary is not None and "张三" not in case.published_summary
    case.published_summary = None  # as stored before migration 0010
    assert public_summary(case) == "张*反映温泉路路灯不亮"
