"""Concatenated SMS: from the modem's parts to one message, and where waiting parts live.

A long SMS arrives as up to 255 parts that share a reference number in their
user data header (UDH); networks deliver them out of order, minutes apart, or
never. This module is pure protocol work on python-gammu's SMS dicts:

- ``part_from_gammu`` reads one dict into an ``SmsPart`` (timestamps in UTC,
  so the external id is the same whichever copy of a part we read);
- ``group_parts`` collects parts by sender, reference and part count;
- ``is_ready`` says whether a group is complete or has waited long enough,
  and ``assemble`` turns a ready group into an ``SmsMessage`` with Gammu's
  ``DecodeSMS`` (complete groups) or a join that marks the gaps (partial ones).

``PartialStore`` keeps parts of incomplete groups on disk (fsynced Gammu
SMS-backup files), so the modem's small SIM store is freed and a restart of
the service loses nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import gammu

log = logging.getLogger(__name__)

_CONCAT_UDH = frozenset({"ConcatenatedMessages", "ConcatenatedMessages16bit"})


@dataclass(frozen=True, slots=True)
class SmsPart:
    """One received SMS (or one part of a long one) as the modem gave it."""

    sender: str
    sent_at: datetime
    """The service centre's timestamp, in UTC."""
    text: str
    reference: int | None
    """Concatenation reference from the UDH; None for a single SMS."""
    part_number: int
    total: int
    location: int | None
    """Where the part lies on the modem; None once it lives in the partial store."""
    raw: Mapping[str, Any]

    @property
    def group_key(self) -> str:
        """Parts with the same key belong to one message."""
        if self.reference is None:
            digest = hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()
            return f"{self.sender}|{self.sent_at.isoformat()}|s{digest[:12]}"
        return f"{self.sender}|c{self.reference}/{self.total}"


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """A whole (or given-up-on) message, ready to become an item or a command."""

    sender: str
    sent_at: datetime
    text: str
    external_id: str
    total: int
    present: tuple[int, ...]
    locations: tuple[int, ...]
    """Modem locations to delete once the message is handled."""

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(n for n in range(1, self.total + 1) if n not in self.present)


def _aware_utc(value: object, naive_tz: tzinfo) -> datetime:
    if not isinstance(value, datetime):
        # A modem that gave no timestamp: the epoch keeps the id stable across re-reads.
        return datetime(1970, 1, 1, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=naive_tz)
    return value.astimezone(UTC)


def part_from_gammu(sms: Mapping[str, Any], *, naive_tz: tzinfo = UTC) -> SmsPart:
    """Read one python-gammu SMS dict; a broken or foreign UDH makes it a single SMS."""
    udh = sms.get("UDH") or {}
    reference: int | None = None
    part_number, total = 1, 1
    if udh.get("Type") in _CONCAT_UDH:
        ref16, ref8 = int(udh.get("ID16bit", -1)), int(udh.get("ID8bit", -1))
        ref = ref16 if ref16 != -1 else ref8
        all_parts, number = int(udh.get("AllParts", 0)), int(udh.get("PartNumber", 0))
        if ref >= 0 and 1 < all_parts <= 255 and 1 <= number <= all_parts:
            reference, part_number, total = ref, number, all_parts
    location = sms.get("Location")
    return SmsPart(
        sender=str(sms.get("Number") or "").strip(),
        sent_at=_aware_utc(sms.get("DateTime"), naive_tz),
        text=str(sms.get("Text") or ""),
        reference=reference,
        part_number=part_number,
        total=total,
        location=int(location) if isinstance(location, int) and location > 0 else None,
        raw=sms,
    )


def group_parts(parts: Iterable[SmsPart]) -> dict[str, list[SmsPart]]:
    """Group parts by message, in order of part number (duplicates kept, see ``assemble``)."""
    groups: dict[str, list[SmsPart]] = {}
    for part in parts:
        groups.setdefault(part.group_key, []).append(part)
    return {key: sorted(group, key=lambda p: p.part_number) for key, group in groups.items()}


def _unique(parts: Iterable[SmsPart]) -> list[SmsPart]:
    # The same part twice (a copy in the store and on the SIM after a crash):
    # keep the first; the other's location is still deleted with the message.
    by_number: dict[int, SmsPart] = {}
    for part in parts:
        by_number.setdefault(part.part_number, part)
    return [by_number[n] for n in sorted(by_number)]


def is_ready(parts: Sequence[SmsPart], *, first_seen: datetime, now: datetime,
             timeout: timedelta) -> bool:
    """True when the group is complete, or has waited ``timeout`` for its missing parts."""
    numbers = {p.part_number for p in parts}
    return len(numbers) >= parts[0].total or now - first_seen >= timeout


def _fix_surrogates(text: str) -> str:
    # Parts may split a UTF-16 surrogate pair; rejoin pairs, replace strays.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _decode_complete(parts: Sequence[SmsPart]) -> str:
    try:
        decoded = gammu.DecodeSMS([dict(p.raw) for p in parts])
    except (gammu.GSMError, TypeError, ValueError):
        decoded = None
    if decoded:
        buffers = [str(e.get("Buffer") or "") for e in decoded.get("Entries", ())
                   if e.get("ID") in ("ConcatenatedTextLong", "ConcatenatedTextLong16bit",
                                      "Text")]
        if buffers:
            return "".join(buffers)
    return "".join(p.text for p in parts)


def assemble(parts: Sequence[SmsPart]) -> SmsMessage:
    """Join a ready group into one message; gaps are marked in the text."""
    ordered = _unique(parts)
    first = ordered[0]
    total = first.total
    present = tuple(p.part_number for p in ordered)
    sent_at = min(p.sent_at for p in ordered)
    if first.reference is None:
        text = first.text
        ref = first.group_key.rsplit("|", 1)[1]
    elif len(present) == total:
        text = _decode_complete(ordered)
        ref = f"c{first.reference}/{total}"
    else:
        pieces: list[str] = []
        by_number = {p.part_number: p for p in ordered}
        for n in range(1, total + 1):
            part = by_number.get(n)
            pieces.append(part.text if part else f"[第{n}/{total}条未收到]")
        text = "".join(pieces)
        # The parts present are part of the id: a part arriving after we gave up
        # becomes its own item instead of being taken for a redelivery.
        ref = f"c{first.reference}/{total}#{','.join(map(str, present))}"
    locations = {p.location for p in parts if p.location is not None}
    return SmsMessage(
        sender=first.sender,
        sent_at=sent_at,
        text=_fix_surrogates(text),
        external_id=f"{first.sender}|{sent_at.isoformat()}|{ref}",
        total=total,
        present=present,
        locations=tuple(sorted(locations)),
    )


@dataclass(frozen=True, slots=True)
class StoredGroup:
    """Parts of one incomplete message kept on disk, and when we first saw it."""

    key: str
    first_seen: datetime
    parts: tuple[SmsPart, ...]
    done: bool = False
    """Handled already; only its leftovers on the modem remain to be deleted."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PartialStore:
    """Parts waiting for their siblings, one directory per message, fsynced."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def load(self) -> dict[str, StoredGroup]:
        """Every stored group; an unreadable part file is skipped, never deleted."""
        out: dict[str, StoredGroup] = {}
        if not self.root.is_dir():
            return out
        for gdir in sorted(self.root.iterdir()):
            done_file = gdir / "done.json"
            if done_file.is_file():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    key = str(json.loads(done_file.read_text("utf-8"))["key"])
                    out[key] = StoredGroup(key=key, first_seen=datetime.now(UTC), parts=(),
                                           done=True)
                    continue
            meta_file = gdir / "group.json"
            if not meta_file.is_file():
                continue
            try:
                meta = json.loads(meta_file.read_text("utf-8"))
                key, first_seen = str(meta["key"]), datetime.fromisoformat(meta["first_seen"])
            except (ValueError, KeyError, TypeError):
                log.error("sms-parts: unreadable %s left in place for an operator", meta_file)
                continue
            parts: list[SmsPart] = []
            for pfile in sorted(gdir.glob("part-*.smsbackup")):
                try:
                    raws = gammu.ReadSMSBackup(str(pfile))
                except gammu.GSMError as exc:
                    log.error("sms-parts: unreadable %s left in place: %s", pfile, exc)
                    continue
                parts.extend(part_from_gammu(dict(raw, Location=0)) for raw in raws)
            if parts:
                out[key] = StoredGroup(key=key, first_seen=first_seen, parts=tuple(parts))
        return out

    def add(self, key: str, parts: Iterable[SmsPart], *, first_seen: datetime) -> None:
        """Persist parts (idempotent per part number); returns once they are on disk."""
        gdir = self._dir(key)
        gdir.mkdir(parents=True, exist_ok=True)
        meta_file = gdir / "group.json"
        if not meta_file.exists():
            self._write_atomic(meta_file, json.dumps(
                {"key": key, "first_seen": first_seen.isoformat()}, ensure_ascii=False
            ).encode("utf-8"))
        for part in parts:
            target = gdir / f"part-{part.part_number:03d}.smsbackup"
            if target.exists():
                continue
            tmp = target.with_suffix(".tmp")
            # Gammu writes local time as if it were UTC: hand it UTC.
            raw = dict(part.raw, DateTime=part.sent_at.replace(tzinfo=None))
            gammu.SaveSMSBackup(str(tmp), [raw])
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
            tmp.replace(target)
        _fsync_dir(gdir)

    def mark_done(self, key: str) -> None:
        """Record that the group's message is handled, before its parts are deleted."""
        gdir = self._dir(key)
        gdir.mkdir(parents=True, exist_ok=True)
        self._write_atomic(gdir / "done.json",
                           json.dumps({"key": key}, ensure_ascii=False).encode("utf-8"))
        _fsync_dir(gdir)

    def remove(self, key: str) -> None:
        """Forget a group once its message is committed."""
        shutil.rmtree(self._dir(key), ignore_errors=True)

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
