"""A stand-in speech engine for the transcription pool's tests, run in its worker processes.

The "recording" is a text file whose content says what to do, so each test
states its situation in the file it submits: ``say:WORDS`` answers WORDS with
timings, ``sleep:N`` hangs for N seconds, ``crash`` kills the process,
``bad`` is a file the engine refuses, ``error`` a failure inside the engine.
Every answer carries the worker's pid and how many times it loaded its
"model", so tests can see one load per process and a fresh process after a kill.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from contract.transcript import Transcript, Word
from intake.speech import UnreadableAudio

LOADS = 0


class FakeEngine:
    """Loads nothing but counts the loads; obeys the command in each file."""

    def __init__(self, fail_load: bool = False) -> None:
        global LOADS
        if fail_load:
            raise RuntimeError("model directory is empty")
        LOADS += 1

    def transcribe(self, path: str) -> Transcript:
        command, _, arg = Path(path).read_text(encoding="utf-8").partition(":")
        if command == "sleep":
            time.sleep(float(arg))
        elif command == "crash":
            os._exit(3)
        elif command == "bad":
            raise UnreadableAudio("not a WAV file")
        elif command == "error":
            raise RuntimeError("recogniser failed")
        words = tuple(Word(w, start=i * 0.5, end=i * 0.5 + 0.4, conf=0.9)
                      for i, w in enumerate(arg.split()))
        return Transcript(text=arg, words=words, seconds=len(words) * 0.5,
                          engine=f"fake:pid={os.getpid()}:loads={LOADS}")


def make_engine(fail_load: bool = False) -> FakeEngine:
    """The pool's ``EngineFactory`` (wrap in ``functools.partial`` for options)."""
    return FakeEngine(fail_load)
