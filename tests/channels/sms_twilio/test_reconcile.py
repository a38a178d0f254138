"""Reconciliation against the fake REST API: nothing the webhook missed is lost, nothing doubles."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from channels.sms_twilio import SMS_PATH, Kind, Reconciler, ReconcileState, state_path
from channels.sms_twilio.settings import TwilioSettings

from .conftest import (
    NOW,
    OUR_NUMBER,
    FakeCommands,
    RecordingSink,
    WebhookClient,
    closed_port_url,
    post_signed,
    read_fixture,
)
from .fake_twilio import FakeTwilio

CITIZEN = "+8613800138000"


def sid(n: int) -> str:
    return f"SM{n:032x}"


@pytest.fixture
def reconciler(settings: TwilioSettings, sink: RecordingSink, commands: FakeCommands,
               http: aiohttp.ClientSession) -> Reconciler:
    return Reconciler(settings, sink=sink, commands=commands, http=http,
                      path=state_path(settings, None), clock=lambda: NOW)


def listing_floors(fake: FakeTwilio) -> list[str]:
    """The ``DateSent>`` of every first-page listing request the fake received."""
    floors = []
    for rec in fake.requests:
        query = parse_qs(urlsplit(rec.path_qs).query)
        if rec.path_qs.split("?")[0].endswith("/Messages.json") and "Page" not in query:
            floors.append(query["DateSent>"][0])
    return floors


async def test_database_outage_503_then_reconciliation_registers_the_message_once(
        client: WebhookClient, sink: RecordingSink, fake: FakeTwilio,
        reconciler: Reconciler) -> None:
    sink.down = True
    resp = await post_signed(client, SMS_PATH, read_fixture("twilio_sms_unicode.urlencoded"))
    assert resp.status == 503 and sink.cases == {}
    fake.add_inbound(sid(1), sender=CITIZEN, body="福州市鼓楼区五四路路灯不亮已经一周了，请尽快修理。",
                     sent=NOW - timedelta(minutes=1), to=OUR_NUMBER)
    sink.down = False

    report = await reconciler.run_once()
    assert report.handled == {sid(1): Kind.REGISTERED}
    (_number, envelope), = sink.cases.values()
    assert envelope.sender == CITIZEN and envelope.text.startswith("福州市")
    assert envelope.received_at == NOW - timedelta(minutes=1)

    again = await reconciler.run_once()
    assert again.handled == {} and len(sink.cases) == 1


async def test_reconciliation_pages_through_the_list_and_skips_outbound_and_other_numbers(
        fake: FakeTwilio, sink: RecordingSink, reconciler: Reconciler) -> None:
    for n in range(1, 6):
        fake.add_inbound(sid(n), sender=CITIZEN, body=f"诉求{n}",
                         sent=NOW - timedelta(minutes=10 - n), to=OUR_NUMBER)
    fake.add_inbound(sid(6), sender=OUR_NUMBER, body="回执", sent=NOW, to=CITIZEN,
                     direction="outbound-api")
    fake.add_inbound(sid(7), sender=CITIZEN, body="别的号码", sent=NOW, to="+8659100000000")

    report = await reconciler.run_once()
    assert list(report.handled) == [sid(n) for n in range(1, 6)]  # oldest first
    assert sorted(sink.cases) == [sid(n) for n in range(1, 6)]
    assert any("Page=2" in r.path_qs for r in fake.requests)  # three pages of at most two
    assert all(r.authorised for r in fake.requests)


async def test_message_registered_by_the_webhook_is_not_duplicated_by_reconciliation(
        client: WebhookClient, fake: FakeTwilio, sink: RecordingSink,
        reconciler: Reconciler) -> None:
    resp = await post_signed(client, SMS_PATH, read_fixture("twilio_sms_unicode.urlencoded"))
    assert resp.status == 200
    fake.add_inbound(sid(1), sender=CITIZEN, body="福州市鼓楼区五四路路灯不亮已经一周了，请尽快修理。",
                     sent=NOW - timedelta(minutes=1), to=OUR_NUMBER)
    report = await reconciler.run_once()
    assert report.handled == {sid(1): Kind.REGISTERED}
    assert len(sink.calls) == 2 and len(sink.cases) == 1


async def test_outage_mid_run_stops_without_moving_the_watermark_and_next_run_resumes(
        fake: FakeTwilio, sink: RecordingSink, reconciler: Reconciler,
        settings: TwilioSettings) -> None:
    for n in (1, 2, 3):
        fake.add_inbound(sid(n), sender=CITIZEN, body=f"诉求{n}",
                         sent=NOW - timedelta(minutes=10 - n), to=OUR_NUMBER)
    sink.down_for = {sid(2)}
    first = await reconciler.run_once()
    assert first.handled == {sid(1): Kind.REGISTERED} and first.stopped_by == sid(2)
    state = ReconcileState.load(state_path(settings, None))
    assert state.watermark == NOW - timedelta(minutes=9)

    sink.down_for = set()
    second = await reconciler.run_once()
    assert second.handled == {sid(2): Kind.REGISTERED, sid(3): Kind.REGISTERED}
    assert sorted(sink.cases) == [sid(1), sid(2), sid(3)]
    assert [e.external_id for e in sink.calls].count(sid(1)) == 1


async def test_first_run_looks_back_and_later_runs_start_at_watermark_minus_overlap(
        fake: FakeTwilio, reconciler: Reconciler, settings: TwilioSettings) -> None:
    fake.add_inbound(sid(1), sender=CITIZEN, body="诉求", sent=NOW - timedelta(hours=2),
                     to=OUR_NUMBER)
    await reconciler.run_once()
    await reconciler.run_once()
    lookback = NOW - timedelta(seconds=settings.reconcile_lookback_s)
    overlap = NOW - timedelta(hours=2, seconds=settings.reconcile_overlap_s)
    assert listing_floors(fake) == [lookback.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    overlap.strftime("%Y-%m-%dT%H:%M:%SZ")]


async def test_reconciliation_reapplies_unsubscribe_but_skips_late_case_queries(
        fake: FakeTwilio, sink: RecordingSink, commands: FakeCommands,
        reconciler: Reconciler) -> None:
    fake.add_inbound(sid(1), sender=CITIZEN, body="退订", sent=NOW - timedelta(minutes=3),
                     to=OUR_NUMBER)
    fake.add_inbound(sid(2), sender=CITIZEN, body="CX FZ12345-20261124-000017",
                     sent=NOW - timedelta(minutes=2), to=OUR_NUMBER)
    fake.add_inbound(sid(3), sender=CITIZEN, body="   ", sent=NOW - timedelta(minutes=1),
                     to=OUR_NUMBER)
    report = await reconciler.run_once()
    assert report.handled == {sid(1): Kind.COMMAND, sid(2): Kind.SKIPPED, sid(3): Kind.REFUSED}
    assert commands.calls == [("unsubscribe", CITIZEN)]
    assert sink.cases == {}


async def test_reconciliation_fetches_the_media_of_a_missed_mms(
        fake: FakeTwilio, sink: RecordingSink, reconciler: Reconciler) -> None:
    fake.add_inbound("MM" + "1" * 32, sender=CITIZEN, body="井盖丢失", to=OUR_NUMBER,
                     sent=NOW - timedelta(minutes=1), media=(("image/jpeg", b"\xff\xd8photo"),))
    await reconciler.run_once()
    (_, envelope), = sink.cases.values()
    assert [(a.content_type, a.data) for a in envelope.attachments] == [
        ("image/jpeg", b"\xff\xd8photo")]
    assert any("/Media/ME" in r.path_qs and r.authorised for r in fake.requests)


async def test_corrupt_state_file_starts_over_and_loses_nothing(
        fake: FakeTwilio, sink: RecordingSink, reconciler: Reconciler,
        settings: TwilioSettings) -> None:
    path = state_path(settings, None)
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    fake.add_inbound(sid(1), sender=CITIZEN, body="诉求", sent=NOW - timedelta(minutes=1),
                     to=OUR_NUMBER)
    await reconciler.run_once()
    assert list(sink.cases) == [sid(1)]
    assert json.loads(path.read_text(encoding="utf-8"))["seen"] == {
        sid(1): (NOW - timedelta(minutes=1)).isoformat()}


async def test_api_unreachable_raises_and_leaves_state_untouched(
        settings: TwilioSettings, sink: RecordingSink, commands: FakeCommands,
        http: aiohttp.ClientSession, tmp_path: Path) -> None:
    away = settings.model_copy(update={"api_base_url": closed_port_url()})
    path = tmp_path / "state.json"
    reconciler = Reconciler(away, sink=sink, commands=commands, http=http, path=path,
                            clock=lambda: NOW)
    with pytest.raises(aiohttp.ClientError):
        await reconciler.run_once()
    assert not path.exists() and sink.calls == []


async def test_mounted_routes_run_reconciliation_when_the_app_starts(
        make_client: Callable[..., AsyncIterator[WebhookClient]], fake: FakeTwilio,
        sink: RecordingSink) -> None:
    fake.add_inbound(sid(1), sender=CITIZEN, body="诉求", sent=NOW - timedelta(minutes=1),
                     to=OUR_NUMBER)
    async for _client in make_client(reconcile=True):
        await asyncio.wait_for(sink.called.wait(), timeout=5)
    assert list(sink.cases) == [sid(1)]
