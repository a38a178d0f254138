"""The transcription pool: one model load per process, a bounded queue, time limits and
crash recovery, proven with a fake engine in real worker processes (``fake_engine``)."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from intake.transcribe_pool import (
    BadRecording,
    PoolBusy,
    TranscriberPool,
    TranscriptionFailed,
    TranscriptionTimeout,
    WorkerCrashed,
)
from tests.intake.fake_engine import make_engine

LIMIT = 30.0


@pytest.fixture
def job(tmp_path: Path) -> functools.partial[str]:
    def write(command: str, name: str) -> str:
        path = tmp_path / name
        path.write_text(command, encoding="utf-8")
        return str(path)

    counter = iter(range(1000))
    return functools.partial(lambda command: write(command, f"job-{next(counter)}.txt"))


def pid(engine: str) -> str:
    return engine.split(":")[1]


async def test_one_model_load_per_process_serves_every_job(job: functools.partial[str]) -> None:
    async with TranscriberPool(make_engine, workers=1, max_queue=4) as pool:
        first = await pool.transcribe(job("say:路灯 不亮"), timeout_s=LIMIT)
        second = await pool.transcribe(job("say:井盖 缺失"), timeout_s=LIMIT)
    assert first.text == "路灯 不亮" and [w.word for w in first.words] == ["路灯", "不亮"]
    assert pid(first.engine) == pid(second.engine)
    assert second.engine.endswith("loads=1")
    assert pool.starts == 1


async def test_queue_refuses_past_workers_plus_max_queue(job: functools.partial[str]) -> None:
    async with TranscriberPool(make_engine, workers=1, max_queue=1) as pool:
        running = pool.submit(job("sleep:0.3"), timeout_s=LIMIT)
        waiting = pool.submit(job("say:第二"), timeout_s=LIMIT)
        assert pool.free == 0
        with pytest.raises(PoolBusy):
            pool.submit(job("say:第三"), timeout_s=LIMIT)
        await running
        assert (await waiting).text == "第二"
        assert pool.free == 2


async def test_job_past_its_limit_is_killed_and_next_job_gets_a_fresh_process(
        job: functools.partial[str]) -> None:
    async with TranscriberPool(make_engine, workers=1, max_queue=2) as pool:
        warm = await pool.transcribe(job("say:预热"), timeout_s=LIMIT)
        stuck = pool.submit(job("sleep:60"), timeout_s=1.0)
        after = pool.submit(job("say:之后"), timeout_s=LIMIT)
        with pytest.raises(TranscriptionTimeout):
            await stuck
        result = await after
    assert result.text == "之后"
    assert pid(result.engine) != pid(warm.engine)
    assert pool.starts == 2


async def test_crash_fails_only_its_job_and_the_worker_restarts(job: functools.partial[str]) -> None:
    async with TranscriberPool(make_engine, workers=1, max_queue=2) as pool:
        crash = pool.submit(job("crash"), timeout_s=LIMIT)
        after = pool.submit(job("say:还在"), timeout_s=LIMIT)
        with pytest.raises(WorkerCrashed) as caught:
            await crash
        assert (await after).text == "还在"
    assert caught.value.retryable and "exit code 3" in str(caught.value)
    assert pool.starts == 2


async def test_bad_file_is_final_and_engine_error_is_retryable(job: functools.partial[str]) -> None:
    async with TranscriberPool(make_engine, workers=1, max_queue=2) as pool:
        with pytest.raises(BadRecording) as bad:
            await pool.transcribe(job("bad"), timeout_s=LIMIT)
        with pytest.raises(TranscriptionFailed) as failed:
            await pool.transcribe(job("error"), timeout_s=LIMIT)
    assert not bad.value.retryable
    assert failed.value.retryable and "recogniser failed" in str(failed.value)
    assert pool.starts == 1  # neither killed the process


async def test_model_that_does_not_load_fails_the_job_not_the_pool(
        job: functools.partial[str]) -> None:
    async with TranscriberPool(functools.partial(make_engine, fail_load=True), workers=1) as pool:
        with pytest.raises(WorkerCrashed, match="model directory is empty"):
            await pool.transcribe(job("say:x"), timeout_s=LIMIT)
        assert pool.free == 1 + pool.max_queue


async def test_two_workers_take_two_jobs_at_once(job: functools.partial[str]) -> None:
    async with TranscriberPool(make_engine, workers=2, max_queue=0) as pool:
        results = await asyncio.gather(
            pool.transcribe(job("sleep:0.5"), timeout_s=LIMIT),
            pool.transcribe(job("sleep:0.5"), timeout_s=LIMIT))
    assert pid(results[0].engine) != pid(results[1].engine)
