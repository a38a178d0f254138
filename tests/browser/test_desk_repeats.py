"""Issue 13 item 5: the bureau sees every earlier item of the same citizen, ranked by how
alike it is, and the one about the same place reported again comes first, as a repeat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from contract.clock import FixedClock
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in, sms_case

CITIZEN = "+8613905910007"


async def test_R8_5_bureau_page_lists_every_earlier_case_ranked_with_the_repeat_first(
        server: TestServer, page: Any, shots: Shots, clock: FixedClock) -> None:
    await seed_accounts(server)
    lamp = await sms_case(server, "五四路120号门口路灯不亮", sender=CITIZEN, external_id="e1")
    clock.advance(timedelta(minutes=5))
    noise = await sms_case(server, "五四路120号工地夜间施工噪音扰民，凌晨还在打桩", sender=CITIZEN,
                           external_id="e2")
    clock.advance(timedelta(minutes=5))
    lift = await sms_case(server, "小区电梯经常故障", sender=CITIZEN, external_id="e3")
    clock.advance(timedelta(days=7))
    again = await sms_case(server, "上周反映过五四路120号工地晚上施工太吵的问题，到现在还没人管",
                           sender=CITIZEN, external_id="e4")
    await sign_in(server, page, "city")
    await page.goto(str(server.make_url(f"/desk/cases/{again.case_number}")))
    await page.wait_for_selector("#earlier-cases")
    items = await page.locator("#earlier-cases li").all_inner_texts()
    assert [i.split()[0] for i in items] == [noise.case_number, lamp.case_number, lift.case_number]
    assert "重复诉求" in items[0] and all("其他问题" in i for i in items[1:])
    await shots.take(page, "earlier-cases-ranked")
