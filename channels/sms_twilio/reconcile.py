"""Reconciliation: list inbound messages through the REST API and register any the webhook missed.

Twilio calls the SMS webhook once and does not retry an answer of 503 (only a
failed connection), so a message that arrived while the store was down, or
while we were not listening, exists only on Twilio. This job lists messages
sent to our number since a watermark and runs each through the same
``handling.process`` as the webhook; the sink is idempotent on MessageSid, so
passing a message already registered again is harmless (it only costs a second
media download, which is why a watermark exists at all).

State, one small JSON file per account: the watermark (date sent of the last
message handled, everything before it being done) and the sids handled within
the overlap window. Each run lists from ``watermark - overlap`` (late arrivals
in Twilio's index), skips sids it has handled, goes oldest first, and stops at
the first message it could not handle (store down, API error) without moving
the watermark past it, so the next run tries it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp

from channels.sms_twilio.settings import TwilioSettings
from contract.envelope import Sink, TryLater
from contract.sms_keywords import SmsCommands
from contract.twilio_signature import BadForm

from .api import TwilioApiError, absolute, request_json
from .handling import Kind, process
from .inbound import InboundSms, MediaRef, Now, sms_from_rest, utc_now
from .media import MediaFetcher

log = logging.getLogger(__name__)
PAGE_SIZE = 100
MAX_PAGES = 50
_TRANSIENT = (TryLater, TwilioApiError, aiohttp.ClientError, TimeoutError)


@dataclass(slots=True)
class ReconcileState:
    """What the last run got through: a watermark and the sids handled near it."""

    watermark: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)
    """sid → ISO date sent, for messages at or after ``watermark - overlap``."""

    @classmethod
    def load(cls, path: Path) -> ReconcileState:
        """Read the state file; a missing file is a first run."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            mark = raw.get("watermark")
            seen = {str(k): str(v) for k, v in dict(raw.get("seen", {})).items()}
            for when in seen.values():
                datetime.fromisoformat(when)
            return cls(datetime.fromisoformat(mark) if mark else None, seen)
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, AttributeError) as exc:
            # Starting over only re-offers messages to an idempotent sink: safe.
            log.error("twilio reconcile: state file %s unreadable (%s); starting over",
                      path, exc)
            return cls()

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename): a crash leaves the old state, never half."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        mark = self.watermark.isoformat() if self.watermark else None
        tmp.write_text(json.dumps({"watermark": mark, "seen": self.seen}, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one run did, for logs and tests."""

    listed: int
    handled: dict[str, Kind]
    stopped_by: str | None = None


def state_path(settings: TwilioSettings, data_dir: Path | None) -> Path:
    """Where this account's state file lives."""
    base = Path(settings.state_dir) if settings.state_dir else (data_dir or Path("var")) / "twilio"
    return base / f"reconcile-{settings.account_sid or 'unset'}.json"


class Reconciler:
    """One account's reconciliation; ``run_once`` is one iteration of the periodic job."""

    def __init__(self, settings: TwilioSettings, *, sink: Sink, commands: SmsCommands,
                 http: aiohttp.ClientSession, path: Path, clock: Now = utc_now) -> None:
        self._settings = settings
        self._sink = sink
        self._commands = commands
        self._http = http
        self._path = path
        self._clock = clock
        self._media = MediaFetcher(settings, http)
        self._lock = asyncio.Lock()

    async def run_once(self) -> RunReport:
        """List since the watermark, handle what is new, save the state."""
        async with self._lock:
            state = await asyncio.to_thread(ReconcileState.load, self._path)
            overlap = timedelta(seconds=self._settings.reconcile_overlap_s)
            since = (state.watermark - overlap if state.watermark else
                     self._clock() - timedelta(seconds=self._settings.reconcile_lookback_s))
            messages = await self._list_inbound(since)
            report = await self._handle(messages, state)
            floor = (state.watermark or since) - overlap
            state.seen = {sid: when for sid, when in state.seen.items()
                          if datetime.fromisoformat(when) >= floor}
            await asyncio.to_thread(state.save, self._path)
            return report

    async def _handle(self, messages: list[dict[str, Any]],
                      state: ReconcileState) -> RunReport:
        handled: dict[str, Kind] = {}
        for message in messages:
            sid = str(message.get("sid") or "")
            if sid in state.seen:
                continue
            try:
                sms = await self._to_sms(message)
                outcome = await process(sms, sink=self._sink, commands=self._commands,
                                        media=self._media, replay=True)
            except BadForm as exc:  # corrupt listing entry: nothing we could ever register
                log.error("twilio reconcile: cannot read message %s: %s", sid, exc)
                continue
            except _TRANSIENT as exc:
                log.warning("twilio reconcile: stopped at %s: %s", sid, exc)
                return RunReport(len(messages), handled, stopped_by=sid)
            handled[sid] = outcome.kind
            state.seen[sid] = sms.received_at.isoformat()
            if state.watermark is None or sms.received_at > state.watermark:
                state.watermark = sms.received_at
        return RunReport(len(messages), handled)

    async def _list_inbound(self, since: datetime) -> list[dict[str, Any]]:
        """Inbound messages to our number sent since ``since``, oldest first."""
        params: dict[str, str] | None = {
            "To": self._settings.phone_number,
            # Twilio's ``DateSent>`` means "on or after"; the SDK sends this format too.
            "DateSent>": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PageSize": str(PAGE_SIZE),
        }
        url = self._settings.messages_url
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = await request_json(self._http, self._settings, "GET", url, params=params)
            found += [m for m in page.get("messages", [])
                      if isinstance(m, dict) and m.get("direction") == "inbound"]
            next_uri = page.get("next_page_uri")
            if not next_uri:
                break
            url, params = absolute(self._settings, str(next_uri)), None
        found.sort(key=lambda m: (_sent(m), str(m.get("sid"))))
        return found

    async def _to_sms(self, message: dict[str, Any]) -> InboundSms:
        media: tuple[MediaRef, ...] = ()
        if int(message.get("num_media") or 0) > 0:
            uri = (message.get("subresource_uris") or {}).get("media")
            if uri:
                listing = await request_json(self._http, self._settings, "GET",
                                             absolute(self._settings, str(uri)))
                media = tuple(
                    MediaRef(absolute(self._settings, str(m["uri"]).removesuffix(".json")),
                             str(m.get("content_type") or ""))
                    for m in listing.get("media_list", []) if isinstance(m, dict) and m.get("uri")
                )[: self._settings.media_max_count]
        return sms_from_rest(message, media)


def _sent(message: dict[str, Any]) -> str:
    try:
        return parsedate_to_datetime(str(message.get("date_sent"))).isoformat()
    except (TypeError, ValueError):
        return ""


@asynccontextmanager
async def reconcile_job(settings: TwilioSettings, *, sink: Sink, commands: SmsCommands,
                        http: aiohttp.ClientSession, path: Path,
                        clock: Now = utc_now) -> AsyncIterator[Reconciler]:
    """Run ``Reconciler.run_once`` now and every ``reconcile_interval_s`` until exit."""
    reconciler = Reconciler(settings, sink=sink, commands=commands, http=http, path=path,
                            clock=clock)
    task = asyncio.create_task(_loop(reconciler, settings.reconcile_interval_s),
                               name="twilio-reconcile")
    try:
        yield reconciler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _loop(reconciler: Reconciler, interval_s: float) -> None:
    while True:
        try:
            report = await reconciler.run_once()
            if report.handled:
                log.info("twilio reconcile: %s", report.handled)
        except _TRANSIENT as exc:  # the API or the store is away: next interval tries again
            log.warning("twilio reconcile: run failed: %s", exc)
        except Exception:
            # The safety net must outlive a bug in one run (it would otherwise stop
            # recovering messages until a restart); the traceback goes out at ERROR.
            log.exception("twilio reconcile: run crashed")
        await asyncio.sleep(interval_s)
