"""Fast call churn against one worker: every caller gets an answer or a clean busy, no restart.

pjlib's ioqueue has 64 handles, compiled in; each call's two media sockets go
back to it only 500 ms after the call ends. A robot that dials and hangs up at
once, hundreds of times a second, used to exhaust it and pjsua aborted the
worker (``pj_ioqueue_register_sock2: Assertion !pj_list_empty(&ioqueue->free_list)``):
one to three restarts in this very run before ``channels.sip.gate``. Now the
worker holds calls above its budget unanswered (pjsua then answers 486 by
itself, creating no sockets) and refuses them with 503 and Retry-After.
Bounded: 400 calls offered at 200 a second, at most 8 in progress; ~5 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.channels.sip import sipp
from tests.channels.sip.sipp import HangUpAfter

CALLS = 400
RATE = 200
"""Calls offered per second: far above what pjlib's free list survives without the gate."""


def unfreed(log: pytest.LogCaptureFixture) -> list[str]:
    """The worker's warnings that an ended call's object was not freed when it was dropped."""
    return [r.getMessage() for r in log.records if "outlived their burial" in r.getMessage()]


def restarts(log: pytest.LogCaptureFixture) -> int:
    """Workers the supervisor restarted ("sip worker N exited; …")."""
    return sum("exited;" in r.getMessage() for r in log.records)


def crossed(workdir: Path) -> int:
    """Answered calls the worker hung up at once, its BYE crossing the caller's (SIPp aborts those).

    About one answered call in seventy through Kamailio under this churn, until an ended
    call's object outlived its burial in ``Line.run``'s loop variable and its ``~Call``
    hung up the newer call holding its pjsua slot (``Line._poll``). None allowed now.
    """
    log = workdir / "errors.log"
    return log.read_text("utf-8", "replace").count("unexpected BYE") if log.exists() else 0


async def test_churn_of_immediate_hang_ups_on_one_worker_never_restarts_it(
        start_line: Any, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    async with start_line() as started:
        xml = sipp.scenario([HangUpAfter(0)], busy_ok=True)
        result = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "sipp",
                                calls=CALLS, rate=RATE, limit=8, timeout_s=40)
    assert restarts(worker_log) == 0, result.output
    # Each call: answered and hung up by the caller, or 486 from pjsua, or 503 from the gate.
    # Nothing else: no 603 (an ended call's object, dropped while its pjsua slot served a
    # newer call, used to hang that one up: worker._slot_taken), no BYE of ours crossing theirs.
    assert (crossed(tmp_path / "sipp"), unfreed(worker_log)) == (0, []), result.output
    assert (result.successful, result.failed) == (CALLS, 0), result.output
    assert result.refused > 0, "the gate never refused: the churn was not fast enough to test it"
    assert result.successful - result.busy - result.refused >= 20, result.output


async def test_churn_through_kamailio_is_capped_for_the_pool_and_no_worker_restarts(
        start_pool: Any, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Kamailio's pipelimit turns most of the churn away (503) before any worker sees it."""
    async with start_pool(workers=2) as pool:
        xml = sipp.scenario([HangUpAfter(0)], user="[field0]", busy_ok=True)
        numbers = [str(13805920000 + i) for i in range(CALLS)]  # one caller number holds 2 calls
        result = await sipp.run(pool.target, xml, tmp_path / "sipp", calls=CALLS, rate=RATE,
                                limit=16, timeout_s=40, numbers=numbers)
    assert restarts(worker_log) == 0, result.output
    assert (crossed(tmp_path / "sipp"), unfreed(worker_log)) == (0, []), result.output
    assert (result.successful, result.failed) == (CALLS, 0), result.output
    answered = result.successful - result.busy - result.refused
    cap = pool.settings.kamailio_setups_per_worker_s * pool.settings.workers
    assert result.refused > 0 and 10 <= answered <= 3 * cap, result.output
