"""What a machine heard in a recording, and how a recording waits for it.

A voice item (a voicemail on the SIP line or through Twilio) arrives without
text. Its channel registers it with a placeholder (``voice_placeholder``) and
the recording attached; the case is then "awaiting transcription" exactly like
a fax. The transcription worker (``intake.transcribe``) later adds what the
speech recogniser heard, marked with ``MACHINE_TEXT_MARK``, and an agent
listens, corrects and saves. The placeholder prefix is the one thing channels,
the worker, the registrar and the console must agree on, hence it lives here.

``Transcript`` is plain data so it crosses a process boundary (the recogniser
runs in worker processes) and is stored as event data unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

VOICE_PLACEHOLDER_PREFIX = "[语音留言"
"""How a recording's placeholder text starts; a case whose text starts so awaits transcription."""
FAX_PLACEHOLDER_PREFIX = "[传真"
"""How the fax channel's placeholder starts (``channels.fax_smtp.envelope.placeholder``)."""
AWAITING_PREFIXES = (FAX_PLACEHOLDER_PREFIX, VOICE_PLACEHOLDER_PREFIX)
AUDIO_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave"})
"""Recordings the transcriber reads: PCM WAV, as SIP and Twilio record."""


def voice_placeholder(seconds: float | None) -> str:
    """The text a recording is registered with until someone (machine, then agent) writes it."""
    length = f" {round(seconds)} 秒" if seconds is not None and seconds >= 0 else ""
    return f"{VOICE_PLACEHOLDER_PREFIX}{length}，待坐席听录]"


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its place in the recording (seconds) and confidence (0–1)."""

    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the recogniser heard: the text, each word's timing, and a mean confidence."""

    text: str
    words: tuple[Word, ...]
    seconds: float
    """Length of the audio read, from its header."""
    engine: str
    """Which recogniser and model, e.g. ``vosk:vosk-model-small-cn-0.22``."""

    @property
    def confidence(self) -> float:
        """Mean word confidence; 0 when nothing was heard."""
        return round(sum(w.conf for w in self.words) / len(self.words), 3) if self.words else 0.0

    def as_data(self) -> dict[str, Any]:
        """JSON-ready form, for the event that stores it."""
        return {"text": self.text, "seconds": round(self.seconds, 2), "engine": self.engine,
                "confidence": self.confidence, "words": [asdict(w) for w in self.words]}
