"""Notice templates: every kind renders, per channel, in Simplified and Traditional Chinese."""

from __future__ import annotations

import tomllib

import pytest

from config.notices import LANGUAGE_FILES, NOTICES_FILE, render_notice
from config.settings import ConfigError

VALUES = {"number": "FZ12345-20261124-000001", "query_code": "ABCD2345", "reason": "不属于本市管辖范围",
          "advice": "", "services": "110", "unit": "福州市城市管理委员会", "answer": "已修复。",
          "days": "7", "label": "满意"}


def test_every_simplified_kind_has_a_traditional_twin_with_the_same_placeholders() -> None:
    simplified = tomllib.loads(NOTICES_FILE.read_text(encoding="utf-8"))
    traditional = tomllib.loads(LANGUAGE_FILES["zh-Hant"].read_text(encoding="utf-8"))
    assert set(simplified) == set(traditional)
    for kind in simplified:
        for channel in ("sms_modem", "fax", "web"):
            hans = render_notice(kind, channel, VALUES)
            hant = render_notice(kind, channel, VALUES, language="zh-Hant")
            assert VALUES["number"] in hans and VALUES["number"] in hant
            assert hans != hant, kind


def test_traditional_receipt_reads_traditional() -> None:
    text = render_notice("receipt", "sms_modem", VALUES, language="zh-Hant")
    assert "訴求已登記" in text and "编号" not in text


def test_unknown_kind_and_placeholder_are_errors() -> None:
    with pytest.raises(ConfigError, match="no notice template"):
        render_notice("nothing", "web", VALUES)
    with pytest.raises(ConfigError, match="unknown placeholder"):
        render_notice("answer", "web", {"number": "x"})
