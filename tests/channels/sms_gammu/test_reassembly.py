"""Pure reassembly: parts from python-gammu dicts, ids, the partial store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from channels.sms_gammu.demo import incoming_parts
from channels.sms_gammu.inbound import Item, classify, short_external_id
from channels.sms_gammu.reassembly import (
    PartialStore,
    assemble,
    group_parts,
    is_ready,
    part_from_gammu,
)
from contract.normalise import MAX_TEXT_CHARS

CITIZEN = "+8613800138000"
BEIJING = timezone(timedelta(hours=8))
SENT = datetime(2026, 11, 24, 9, 30, tzinfo=BEIJING)


def test_timestamps_become_utc_and_naive_ones_take_the_modem_zone() -> None:
    aware = part_from_gammu({"Number": CITIZEN, "DateTime": SENT, "Text": "x"})
    naive = part_from_gammu({"Number": CITIZEN, "DateTime": SENT.replace(tzinfo=None),
                             "Text": "x"}, naive_tz=BEIJING)

    assert aware.sent_at == naive.sent_at == datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    assert aware.group_key == naive.group_key


def test_broken_concatenation_header_is_read_as_a_single_sms() -> None:
    raw = {"Number": CITIZEN, "DateTime": SENT, "Text": "半截",
           "UDH": {"Type": "ConcatenatedMessages", "ID8bit": 5, "ID16bit": -1,
                   "PartNumber": 4, "AllParts": 3}}

    part = part_from_gammu(raw)

    assert (part.reference, part.part_number, part.total) == (None, 1, 1)


def test_split_surrogate_pair_is_rejoined_and_strays_replaced() -> None:
    parts = [part_from_gammu({"Number": CITIZEN, "DateTime": SENT, "Text": text,
                              "UDH": {"Type": "ConcatenatedMessages", "ID8bit": 9,
                                      "ID16bit": -1, "PartNumber": n, "AllParts": 2}})
             for n, text in ((1, "好\ud83d"), (2, "\ude00\udc00"))]

    message = assemble(parts)

    assert message.text == "好😀\ufffd"


def test_parts_persisted_with_a_zone_come_back_with_the_same_id(tmp_path: Path) -> None:
    raws = incoming_parts(CITIZEN, "长" * 150, sent_at=SENT)
    for raw in raws:
        raw["DateTime"] = SENT  # as a real modem gives it: with its zone
    parts = [part_from_gammu(r) for r in raws]
    key = parts[0].group_key
    store = PartialStore(tmp_path)

    store.add(key, parts[:2], first_seen=SENT)
    store.add(key, parts[:1], first_seen=SENT)  # the same part again: no change
    (loaded,) = store.load().values()

    assert loaded.key == key and loaded.first_seen == SENT
    assert [p.part_number for p in loaded.parts] == [1, 2]
    whole = assemble(group_parts([*loaded.parts, parts[2]])[key])
    assert whole.external_id == assemble(parts).external_id
    assert whole.text == "长" * 150
    store.remove(key)
    assert store.load() == {}


def test_group_waits_until_timeout_then_is_ready() -> None:
    parts = [part_from_gammu(r) for r in incoming_parts(CITIZEN, "长" * 150, sent_at=SENT)]
    partial = parts[:1]

    assert not is_ready(partial, first_seen=SENT, now=SENT + timedelta(minutes=59),
                        timeout=timedelta(hours=1))
    assert is_ready(partial, first_seen=SENT, now=SENT + timedelta(hours=1),
                    timeout=timedelta(hours=1))
    assert is_ready(parts, first_seen=SENT, now=SENT, timeout=timedelta(hours=1))


def test_text_over_the_intake_limit_is_kept_whole_as_an_attachment() -> None:
    text = "很" * (MAX_TEXT_CHARS + 10)
    message = assemble([part_from_gammu({"Number": CITIZEN, "DateTime": SENT, "Text": text})])

    action = classify(message, received_at=SENT)

    assert isinstance(action, Item)
    assert len(action.envelope.text) == MAX_TEXT_CHARS
    assert action.envelope.attachments[0].data.decode() == text


def test_very_long_external_ids_are_shortened_stably() -> None:
    long_id = f"{CITIZEN}|2026-11-24T01:30:00+00:00|c9/255#" + ",".join(map(str, range(1, 200)))

    short = short_external_id(long_id)

    assert short == short_external_id(long_id)
    assert len(short) < 100 and short.startswith(f"{CITIZEN}|2026-11-24T01:30:00+00:00|h")
