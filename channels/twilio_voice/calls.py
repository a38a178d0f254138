"""Call records: one small JSON file per CallSid under the channel's state folder.

Why keep them: Twilio's recording callback names the call (``CallSid``) and the
recording, but not who called; the caller's number comes from the first
webhook of the call. The record also says what the caller chose, when the call
ended and how (the status callback closes it), and which case the voicemail
became, for an operator looking at one call.

Why files and not the database: a channel never touches the database (it hands
envelopes to the sink). The folder sits under ``data_dir``, which every web
worker of a site shares already (attachments live there too); each write goes
to a temporary file and is renamed into place, so concurrent webhooks of one
call in two workers never leave half a record. A CallSid is checked against
Twilio's shape before it names a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def valid_call_sid(value: str) -> bool:
    """Whether ``value`` is shaped like a Twilio CallSid (and therefore safe as a file name)."""
    return bool(CALL_SID.match(value))


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What we know of one call."""

    call_sid: str
    caller: str
    """``From`` as Twilio gave it (may be ``anonymous`` or empty)."""
    called: str
    started_at: str
    """ISO 8601, from the service's clock."""
    choices: tuple[str, ...] = ()
    status: str = "in-progress"
    ended_at: str | None = None
    duration_s: int | None = None
    recording_sid: str | None = None
    case_number: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def closed(self) -> bool:
        return self.ended_at is not None


class CallStore:
    """Call records under ``root``; every method runs its file work off the event loop."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, call_sid: str) -> Path:
        if not valid_call_sid(call_sid):
            raise ValueError(f"not a CallSid: {call_sid!r}")
        return self.root / f"{call_sid}.json"

    def _read(self, call_sid: str) -> CallRecord | None:
        try:
            raw = json.loads(self._path(call_sid).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        raw["choices"] = tuple(raw.get("choices", ()))
        raw["notes"] = tuple(raw.get("notes", ()))
        return CallRecord(**raw)

    def _write(self, record: CallRecord) -> None:
        target = self._path(record.call_sid)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".call-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(record), fh, ensure_ascii=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, call_sid: str) -> CallRecord | None:
        """The call's record, or None for a call we never answered."""
        return await asyncio.to_thread(self._read, call_sid)

    async def open(self, call_sid: str, *, caller: str, called: str, now: datetime) -> CallRecord:
        """The call's record, created on its first webhook (a repeated first webhook keeps it)."""
        existing = await self.get(call_sid)
        if existing is not None:
            return existing
        record = CallRecord(call_sid=call_sid, caller=caller, called=called,
                            started_at=now.isoformat())
        await asyncio.to_thread(self._write, record)
        return record

    async def update(self, record: CallRecord, **changes: object) -> CallRecord:
        """Write the record with ``changes``."""
        changed = replace(record, **changes)  # type: ignore[arg-type]
        await asyncio.to_thread(self._write, changed)
        return changed

    async def close(self, call_sid: str, *, status: str, duration_s: int | None,
                    now: datetime) -> CallRecord | None:
        """Mark the call ended (the status callback); None when we have no record of it."""
        record = await self.get(call_sid)
        if record is None:
            return None
        return await self.update(record, status=status, ended_at=now.isoformat(),
                                 duration_s=duration_s)
