"""Deferred registration: requests taken while the store is down, kept until it is back.

GeoReport v2 lets a server answer a POST with a ``token`` instead of a
``service_request_id`` when it cannot register at once. We do so only when the
sink raised ``TryLater`` (and ``defer_when_store_down`` is on), and only after
the request is durable here: one JSON file per item, written to a temporary
name, fsynced, renamed, the directory fsynced. A drain job hands each file to
the sink, oldest first, and deletes it only after the sink returned (commit);
it stops at the first ``TryLater`` and tries again later. The sink is
idempotent on ``(channel, external_id)``, so a crash between commit and delete
costs nothing but a second, harmless call.

The token is the item's external id, signed: ``GET tokens/<token>`` can then
tell "ours, still waiting" from "never issued" without any shared state, on
any web process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from contract.envelope import Channel, Envelope, Sink, TryLater
from contract.signing import Signer

log = logging.getLogger(__name__)

TOKEN_PURPOSE = "open311-token"


def make_token(signer: Signer, external_id: str) -> str:
    raw = base64.urlsafe_b64encode(external_id.encode()).decode().rstrip("=")
    return f"{raw}.{signer.sign(TOKEN_PURPOSE, external_id)}"


def read_token(signer: Signer, token: str) -> str | None:
    """The external id a token of ours stands for; None for anything we did not issue."""
    raw, _, signature = token.partition(".")
    if not raw or not signature or len(token) > 600:
        return None
    try:
        external_id = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return external_id if signer.verify(TOKEN_PURPOSE, external_id, signature) else None


def _encode(envelope: Envelope) -> bytes:
    data = asdict(envelope)
    data["received_at"] = envelope.received_at.isoformat()
    data.pop("attachments")  # Open311 carries no files (media_url is a link, kept in notes)
    return json.dumps(data, ensure_ascii=False).encode()


def _decode(raw: bytes) -> Envelope:
    data: dict[str, Any] = json.loads(raw)
    data["channel"] = Channel(data["channel"])
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    for name in ("notes", "alt_reply_addresses"):
        data[name] = tuple(data[name])
    return Envelope(**data)


class Spool:
    """A directory of deferred envelopes, one fsynced file each, named by the item's identity."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, external_id: str) -> Path:
        return self.directory / (hashlib.sha256(external_id.encode()).hexdigest() + ".json")

    def put(self, envelope: Envelope) -> None:
        """Keep ``envelope`` durably (raises ``OSError`` when the disk cannot)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(envelope.external_id)
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as fh:
            fh.write(_encode(envelope))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def holds(self, external_id: str) -> bool:
        return self._path(external_id).exists()

    def discard(self, external_id: str) -> None:
        """Forget an item the sink has taken (by a drain, or by the client's own retry)."""
        with contextlib.suppress(FileNotFoundError):
            self._path(external_id).unlink()

    def pending(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)

    async def drain(self, sink: Sink) -> int:
        """Hand every waiting item to the sink, oldest first; stop at the first ``TryLater``.
        Returns how many were registered. An unreadable file is set aside (``.bad``)."""
        done = 0
        for path in self.pending():
            try:
                envelope = _decode(path.read_bytes())
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("open311: unreadable spool file %s set aside: %s", path.name, exc)
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".bad"))
                continue
            try:
                await sink(envelope)
            except TryLater:
                break
            self.discard(envelope.external_id)
            done += 1
        return done


@asynccontextmanager
async def drain_job(spool: Spool, sink: Sink, *, interval_s: float) -> AsyncIterator[None]:
    """Drain at start and every ``interval_s`` while the channel runs."""

    async def loop() -> None:
        while True:
            try:
                count = await spool.drain(sink)
                if count:
                    log.info("open311: %d deferred request(s) registered", count)
            except Exception:  # one bad round must not end the job; logged with its traceback
                log.exception("open311: spool drain failed")
            await asyncio.sleep(interval_s)

    task = asyncio.create_task(loop(), name="open311-spool-drain")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
