"""Re-record the SMS-backup fixtures (run by hand: ``python -m tests.channels.sms_gammu.make_fixtures``).

Each folder under ``fixtures/`` is one situation: files ``1``, ``2``, ... in
the order the network delivered them, copied into the dummy phone's
``sms/1/`` by the tests. Concatenation references are random per recording,
which is why the files are recorded once and kept.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from channels.sms_gammu.demo import incoming_parts, write_parts

FIXTURES = Path(__file__).parent / "fixtures"
SENT = datetime(2026, 11, 24, 9, 30, tzinfo=timezone(timedelta(hours=8)))
CITIZEN = "+8613800138000"

LONG_3 = ("您好，我是鼓楼区五四路一百号的居民。小区门口的路灯已经坏了两个星期，晚上很黑，"
          "老人和孩子出行很不安全，上周已经有人摔倒。请有关部门尽快派人维修，并检查附近其他路灯"
          "是否也有同样的问题。另外，路口的井盖也有松动，车辆经过时声音很大，请一并处理。谢谢！"
          "希望能在本周内得到答复。我的电话就是本机号码。")
TEN = "".join(f"第{i:02d}段：" + "长乐路的施工噪音一直持续到深夜，严重影响休息。" * 2
              + "请管一管，谢谢各位！" for i in range(1, 11))
GSM7_LONG = ("Hello, I live at 100 Wusi Road, Gulou District. The street light at the gate "
             "has been broken for two weeks and it is very dark at night. Please repair it "
             "soon, and check the other lights on the same street as well. Thank you!")

INVALID_UCS2 = """[SMSBackup000]
SMSC = "+8613800591500"
PDU = Deliver
DateTime = 20261124T013000Z
State = UnRead
Number = "+8613800138000"
Name = ""
Text00 = 8DEF706FD800574F0041
Coding = Unicode_No_Compression
Folder = 1
Length = 5
Class = -1
"""


def _record(name: str, parts: list[dict[str, object]], order: list[int] | None = None) -> None:
    target = FIXTURES / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    chosen = parts if order is None else [parts[i] for i in order]
    write_parts(target / "device", chosen)
    for f in sorted((target / "device" / "sms" / "1").iterdir(), key=lambda p: int(p.name)):
        f.replace(target / f.name)
    shutil.rmtree(target / "device")


def main() -> None:
    """Write every situation."""
    simple = {
        "single_chinese": (CITIZEN, "鼓楼区五四路路灯坏了，请尽快维修。"),
        "multipart_chinese_3_parts": (CITIZEN, LONG_3),
        "multipart_gsm7_2_parts": (CITIZEN, GSM7_LONG),
        "ten_parts_chinese": (CITIZEN, TEN),
        "whitespace_only": (CITIZEN, " \n \t "),
        "empty": (CITIZEN, ""),
        "alphanumeric_sender": ("ICBC", "您的账户余额变动"),
        "short_code_sender": ("10086", "尊敬的客户，您本月话费"),
        "strange_number_format": ("0086 138-0013-8000", "台江区菜市场占道经营"),
        "keyword_query": (CITIZEN, "CX FZ12345-20261124-000017"),
        "keyword_query_fullwidth": (CITIZEN, "ＣＸ　ＦＺ１２３４５－２０２６１１２４－０００００１"),
        "keyword_query_chinese": (CITIZEN, "查询：FZ12345-20261124-000017"),
        "keyword_query_without_number": (CITIZEN, "查询"),
        "keyword_unsubscribe": (CITIZEN, "退订"),
        "keyword_unsubscribe_td": (CITIZEN, "td"),
        "keyword_from_alphanumeric_sender": ("ICBC", "TD"),
        "query_words_are_an_item": (CITIZEN, "查询一下社保怎么交"),
    }
    for name, (sender, text) in simple.items():
        _record(name, incoming_parts(sender, text, sent_at=SENT))
    _record("multipart_out_of_order", incoming_parts(CITIZEN, LONG_3, sent_at=SENT), [2, 0, 1])
    _record("multipart_missing_middle", incoming_parts(CITIZEN, LONG_3, sent_at=SENT), [0, 2])
    bad = FIXTURES / "invalid_ucs2"
    shutil.rmtree(bad, ignore_errors=True)
    bad.mkdir(parents=True)
    (bad / "1").write_text(INVALID_UCS2, encoding="ascii")


if __name__ == "__main__":
    main()
