"""The recordings' spool: every message waits on disk until a case holds it.

A worker records into ``<data_dir>/sip/spool/<key>.wav``; the service writes
``<key>.json`` (who called, when, on which worker) when the recording starts.
A spooled pair leaves only after ``ports.sink`` returned a case for it, so a
message survives the store being down (``TryLater``), a worker killed mid-call
and a restart of the service: whatever is still here is offered again. Files
are written to a temporary name, fsynced and renamed, so a crash never leaves
half a metadata file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from channels.sip import audio
from contract.envelope import Attachment, Channel, Envelope

VOICEMAIL_NOTE = "voicemail"
"""In ``Envelope.notes``: the item is a recorded phone message (its audio is the attachment)."""
WITHHELD_NOTE = "caller_withheld"
"""In ``Envelope.notes``: no number came with the call; the citizen must call back for the answer."""


@dataclass(frozen=True, slots=True)
class Meta:
    """What the service knows of one recording."""

    key: str
    sip_call_id: str
    caller: str | None
    display_name: str | None
    worker: int
    received_at: str
    """ISO 8601 with offset, from the service's clock when the recording started."""


def key_for(sip_call_id: str) -> str:
    """A file-safe, bounded name for a call (Call-IDs are peer-chosen text)."""
    return hashlib.sha256(sip_call_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def external_id(sip_call_id: str) -> str:
    """The envelope's identity: the Call-ID, unless it is too long or odd to store as is."""
    if sip_call_id.isprintable() and 0 < len(sip_call_id) <= 200:
        return f"sip:{sip_call_id}"
    return f"sip-sha256:{hashlib.sha256(sip_call_id.encode('utf-8', 'surrogateescape')).hexdigest()}"


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or new file in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file another process wrote (the worker's recording) to disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


class Spool:
    """The directory of recordings waiting for a case."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def wav(self, key: str) -> Path:
        return self.directory / f"{key}.wav"

    def meta_path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def write_meta(self, meta: Meta) -> None:
        _write_durably(self.meta_path(meta.key), json.dumps(asdict(meta), ensure_ascii=False).encode())

    def read_meta(self, key: str) -> Meta | None:
        try:
            return Meta(**json.loads(self.meta_path(key).read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def waiting(self) -> list[str]:
        """Every recording on disk, oldest first (a metadata file without its WAV counts too)."""
        names = {p.stem for p in self.directory.iterdir()
                 if p.suffix in (".wav", ".json") and not p.name.endswith(".tmp")}
        return sorted(names, key=lambda k: min(
            (p.stat().st_mtime for p in (self.wav(k), self.meta_path(k)) if p.exists()), default=0.0))

    def remove(self, key: str) -> None:
        for path in (self.wav(key), self.meta_path(key)):
            path.unlink(missing_ok=True)
        fsync_dir(self.directory)


def voicemail(meta: Meta, wav: bytes, *, received_at: datetime, told_in_call: bool = False) -> Envelope:
    """The envelope of a phone message: the caller as sender and reply address, the WAV attached.

    ``told_in_call``: the caller is still on the line and hears the case number read
    back, so the registrar records the receipt as given. A message registered later
    (kept while the store was down, left by a crashed worker, the caller gone) is
    not: its receipt goes to the caller's number by SMS.
    """
    seconds = audio.info(wav).seconds
    who = meta.caller or "未显示号码"
    notes = [VOICEMAIL_NOTE, f"sip.call_id={meta.sip_call_id[:200]}", f"sip.duration_s={seconds:.1f}"]
    if meta.caller is None:
        notes.append(WITHHELD_NOTE)
    text = (f"【电话留言】来电{who}留言{seconds:.0f}秒，录音见附件，待人工听写。"
            + ("来电未显示号码：市民需再次来电查询办理结果。" if meta.caller is None else ""))
    return Envelope(
        channel=Channel.PHONE, external_id=external_id(meta.sip_call_id), received_at=received_at,
        text=text, sender=meta.caller, reply_address=meta.caller, display_name=meta.display_name,
        attachments=(Attachment(f"voicemail-{meta.key[:12]}.wav", "audio/wav", wav),),
        notes=tuple(notes), receipt_in_reply=told_in_call)
