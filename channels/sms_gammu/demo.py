"""Put a citizen's text into Gammu's dummy phone, for the demo and for tests.

The dummy driver reads received SMS from SMS-backup files at
``DEVICE/sms/1/N`` (N = 1, 2, ...). ``write_incoming_sms`` encodes a text the
way a phone would (concatenated UCS-2 parts for Chinese, 7-bit GSM otherwise)
and writes one file per part, so a long message arrives as several parts
exactly as from a real network. ``hotline demo sms FROM TEXT`` calls it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gammu

from channels.sms_gammu.deliver import encode_text

INBOX = Path("sms") / "1"
DEMO_SMSC = "+8613800591500"


def next_free_slot(device_dir: Path) -> int:
    """The next unused file number in the dummy phone's inbox."""
    used = [int(p.name) for p in (device_dir / INBOX).glob("*") if p.name.isdigit()]
    return max(used, default=0) + 1


def write_parts(device_dir: Path | str, parts: Sequence[dict[str, Any]]) -> list[Path]:
    """Write already-made Gammu SMS dicts as received messages; returns their files."""
    device = Path(device_dir)
    (device / INBOX).mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for part in parts:
        raw = dict(part)
        when = raw.get("DateTime")
        if isinstance(when, datetime) and when.tzinfo is not None:
            # Gammu writes the wall time it is given and labels it UTC.
            raw["DateTime"] = when.astimezone(UTC).replace(tzinfo=None)
        target = device / INBOX / str(next_free_slot(device))
        tmp = device / f".incoming-{os.getpid()}.tmp"
        gammu.SaveSMSBackup(str(tmp), [raw])
        # Renamed into place whole, so a polling reader never sees half a file.
        tmp.replace(target)
        written.append(target)
    return written


def incoming_parts(sender: str, text: str, *, sent_at: datetime | None = None,
                   smsc: str = DEMO_SMSC) -> list[dict[str, Any]]:
    """Gammu SMS dicts for ``text`` as the network would deliver it from ``sender``."""
    when = (sent_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    parts = encode_text(text, sender)
    for part in parts:
        part.update({
            "Type": "Deliver",
            "Number": sender,
            "SMSC": {"Number": smsc, "Location": 0},
            "DateTime": when,
            "State": "UnRead",
        })
    return parts


def write_incoming_sms(device_dir: Path | str, sender: str, text: str, *,
                       sent_at: datetime | None = None) -> list[Path]:
    """Drop an SMS from ``sender`` into the dummy phone's inbox; returns the files written."""
    return write_parts(device_dir, incoming_parts(sender, text, sent_at=sent_at))
