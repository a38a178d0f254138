"""The words of the demo history (``forwarder.demo_history``): citizens, places, complaints.

Everything here is invented. The complaints deliberately carry what real ones
carry (a name, a phone number, a house number), so that the demo shows the
publication masking at work and the privacy tests have personal data to hunt
for on the public pages.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁"
GIVEN = ("秀兰", "建国", "丽华", "志明", "海燕", "国强", "晓红", "文杰", "美玲", "春生", "玉珍", "德胜",
         "雅琴", "振华", "桂英", "立新", "淑芬", "永福", "慧敏", "明辉")
STREETS = ("五四路", "八一七北路", "杨桥路", "工业路", "六一路", "福飞路", "华林路", "湖东路", "江滨大道",
           "金山大道", "连江路", "福马路")
#: topic → (what the citizen says, the city unit, the district department suffix or "").
TOPICS: tuple[tuple[str, str, str], ...] = (
    ("路灯不亮已经一周，晚上出行很不安全", "city-urban", "urban"),
    ("人行道上有人长期占道经营，行人只能走机动车道", "city-urban", "urban"),
    ("小区门口垃圾堆放多日无人清运，气味很大", "city-urban", "urban"),
    ("小区物业不作为，电梯坏了一个月没人修", "city-housing", "housing"),
    ("楼上卫生间漏水到我家，物业协调不了", "city-housing", "housing"),
    ("菜市场有商户缺斤短两，投诉无果", "city-market", "market"),
    ("附近饭店油烟直排，窗户都不敢开", "city-environment", "market"),
    ("工地夜间施工噪音扰民，凌晨还在作业", "city-environment", ""),
    ("公交车长期不按站点停靠，等车要一个小时", "city-transport", ""),
    ("单位拖欠工资三个月，多次讨要无果", "city-hrss", ""),
    ("孩子入学报名系统一直登录不上", "city-education", ""),
    ("社区卫生服务中心排队时间太长，建议增加窗口", "city-health", ""),
    ("自来水发黄有异味，已经持续好几天", "city-water", ""),
)
CHANNELS: tuple[tuple[str, float], ...] = (("phone", .45), ("web", .25), ("sms_modem", .15),
                                           ("fax", .05), ("open311", .10))
#: Weights of the hour of day a call comes in: office hours, a lunch dip, a quiet night.
HOURS = (1, 1, 1, 1, 1, 2, 4, 8, 16, 20, 18, 14, 8, 10, 16, 18, 16, 12, 9, 8, 7, 5, 3, 2)
ANSWERS = ("经核实，已安排人员现场处理，问题已解决。", "已约谈相关责任方，责令限期整改，我单位将跟踪督办。",
           "已联系诉求人说明情况，相关设施已于近日修复。", "经调查，情况基本属实，已依法立案查处。")


class UnitLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def district(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Item:
    """One invented citizen item and the unit that should get it."""

    channel: str
    text: str
    phone: str
    name: str
    district: str
    place: str
    unit_code: str


def person(rng: random.Random) -> tuple[str, str]:
    """A fictitious name and mobile number (+86 139/138/137…)."""
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    phone = f"+861{rng.choice('3578')}{rng.randrange(10)}{rng.randrange(10**8):08d}"
    return name, phone


def item(rng: random.Random, units: Sequence[UnitLike], senders: list[tuple[str, str, str]], *,
         repeat: bool = False, to_district: float = 0.5) -> Item:
    """A new complaint; with ``repeat`` an earlier citizen's same issue again (R8.5)."""
    channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
    districts = sorted({u.district for u in units if u.kind == "district_unit" and u.district})
    codes = {u.code for u in units}
    if repeat and senders:
        name, phone, text = rng.choice(senders)
        topic = next((t for t in TOPICS if t[0] in text), TOPICS[0])
    else:
        name, phone = person(rng)
        topic, text = rng.choice(TOPICS), ""
    district = rng.choice(districts) if districts else "鼓楼区"
    place = (f"{district}{rng.choice(STREETS)}{rng.randint(1, 300)}号{rng.randint(1, 20)}栋"
             f"{rng.randint(1, 30)}0{rng.randint(1, 4)}室")
    if not text:
        text = f"我叫{name}，住在{place}，{topic[0]}。联系电话{phone[3:]}。"
        senders.append((name, phone, text))
    unit = topic[1]
    district_unit = next((u.code for u in units if u.kind == "district_unit" and u.district == district
                          and u.code.endswith("-" + topic[2])), None) if topic[2] else None
    if district_unit and rng.random() < to_district:
        unit = district_unit
    if unit not in codes:
        unit = "city-urban"
    return Item(channel, text, phone, name, district, place, unit)


def parts(rng: random.Random) -> list[str]:
    """Two issues of one item, for a split (R8.7)."""
    first, second = rng.sample(TOPICS, 2)
    return [first[0], second[0]]


def answer(rng: random.Random) -> str:
    return rng.choice(ANSWERS)


def score(rng: random.Random) -> int:
    """Citizens are mostly satisfied, not always."""
    return rng.choices((5, 4, 3, 2, 1), (45, 25, 15, 8, 7))[0]


def intake_hour(rng: random.Random) -> int:
    return rng.choices(range(24), HOURS)[0]
