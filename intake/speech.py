"""Speech to text with vosk (Kaldi), one recording at a time, read in chunks.

This module runs inside the transcription worker processes
(``intake.transcribe_pool``), never in the event loop: recognition is CPU
work (two to five times faster than real time per core) and the model is
large (``vosk-model-cn-0.22`` is 1.3 GB on disk and wants about 4 GB of memory;
``vosk-model-small-cn-0.22``, 42 MB, runs in about 300 MB). Each worker loads
the model once and keeps it for every recording it is given.

A recording is streamed: ``transcribe_wav`` reads ``CHUNK_FRAMES`` frames at a
time from the file and feeds them to the recogniser, so an hour-long voicemail
costs no more memory than a short one. The recogniser is told the file's true
sample rate (a wrong rate silently gives wrong words); it resamples itself.
"""

from __future__ import annotations

import json
import unicodedata
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from contract.transcript import Transcript, Word

CHUNK_FRAMES = 4000
"""Frames fed to the recogniser per call: 0.25 s at 16 kHz, 0.5 s at 8 kHz."""


class UnreadableAudio(ValueError):
    """The file is not a mono 16-bit PCM WAV; trying again will not help."""


class Recogniser(Protocol):
    """The part of ``vosk.KaldiRecognizer`` we use (a fake stands in for it in tests)."""

    # vosk's method names.
    def SetWords(self, enabled: bool) -> None: ...
    def AcceptWaveform(self, data: bytes) -> bool: ...
    def Result(self) -> str: ...
    def FinalResult(self) -> str: ...


class Engine(Protocol):
    """A loaded recogniser: turns one recording file into a ``Transcript``."""

    def transcribe(self, path: str) -> Transcript: ...


EngineFactory = Callable[[], Engine]
"""Builds an engine in a worker process (loads the model); must be picklable."""


def _han(ch: str) -> bool:
    """A Chinese character (not Hangul or kana, whose languages do put spaces between words)."""
    return unicodedata.name(ch, "").startswith("CJK ")


def join_words(words: list[str]) -> str:
    """Words as text: Chinese models put spaces between words, which Chinese text does not have."""
    out = ""
    for word in words:
        if out and not (_han(out[-1]) and _han(word[0])):
            out += " "
        out += word
    return out


def _words(result: dict[str, Any]) -> list[Word]:
    return [Word(word=str(w["word"]), start=float(w["start"]), end=float(w["end"]),
                 conf=float(w.get("conf", 0.0)))
            for w in result.get("result", []) if str(w.get("word", "")).strip()]


def transcribe_wav(path: str | Path, make_recogniser: Callable[[int], Recogniser], *,
                   engine: str, chunk_frames: int = CHUNK_FRAMES) -> Transcript:
    """Stream ``path`` through a recogniser made for its sample rate; collect words with timings."""
    try:
        wav = wave.open(str(path), "rb")  # noqa: SIM115 (closed by the with below)
    except (wave.Error, EOFError) as exc:
        raise UnreadableAudio(f"not a WAV file: {exc}") from exc
    with wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2 or wav.getcomptype() != "NONE":
            raise UnreadableAudio(f"need mono 16-bit PCM, got {wav.getnchannels()} channel(s) of "
                                  f"{8 * wav.getsampwidth()} bits ({wav.getcomptype()})")
        rate = wav.getframerate()
        seconds = wav.getnframes() / rate if rate else 0.0
        recogniser = make_recogniser(rate)
        recogniser.SetWords(True)
        words: list[Word] = []
        while chunk := wav.readframes(chunk_frames):
            if recogniser.AcceptWaveform(chunk):
                words.extend(_words(json.loads(recogniser.Result())))
        words.extend(_words(json.loads(recogniser.FinalResult())))
    return Transcript(text=join_words([w.word for w in words]), words=tuple(words),
                      seconds=seconds, engine=engine)


class VoskEngine:
    """A vosk model loaded once; each ``transcribe`` makes a recogniser for the file's rate."""

    def __init__(self, model_dir: str) -> None:
        import vosk  # imported here: only worker processes need the native library

        vosk.SetLogLevel(-1)
        if not Path(model_dir, "am").is_dir() and not Path(model_dir, "conf").is_dir():
            raise FileNotFoundError(f"{model_dir} does not look like a vosk model directory")
        self._vosk = vosk
        self._model = vosk.Model(model_dir)
        where = Path(model_dir).resolve()
        # Packaged models sit in a folder called "model": name the package instead.
        self.name = f"vosk:{where.parent.name if where.name == 'model' else where.name}"

    def transcribe(self, path: str) -> Transcript:
        """Recognise one recording, read in chunks."""
        return transcribe_wav(path, lambda rate: self._vosk.KaldiRecognizer(self._model, rate),
                              engine=self.name)


def vosk_engine(model_dir: str) -> Engine:
    """The ``EngineFactory`` body for vosk (pass with ``functools.partial``)."""
    return VoskEngine(model_dir)
