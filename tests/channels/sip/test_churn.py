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


def restarts(log: pytest.LogCaptureFixture) -> int:
    """Workers the supervisor restarted ("sip worker N exited; …")."""
    return sum("exited;" in r.getMessage() for r in log.records)


async def test_churn_of_immediate_hang_ups_on_one_worker_never_restarts_it(
        start_line: Any, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    async with start_line() as started:
        xml = sipp.scenario([HangUpAfter(0)], busy_ok=True)
        result = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "sipp",
                                calls=CALLS, rate=RATE, limit=8, timeout_s=40)
    assert restarts(worker_log) == 0, result.output
    # Each call: answered and hung up by the caller, or 486 from pjsua, or 503 from the gate.
    # Nothing else: no 603 and no BYE from the worker (an ended call's object, dropped while
    # its pjsua slot served a newer call, used to hang that one up: worker._slot_taken).
    assert (result.successful, result.failed) == (CALLS, 0), result.output
    assert result.refused > 0, "the gate never refused: the churn was not fast enough to test it"
    assert result.successful - result.busy - result.refused >= 20, result.output
