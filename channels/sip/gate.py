"""The worker's call set-up gate: keep pjlib's ioqueue from running out under fast call churn.

Root cause of the churn crash: pjlib's ioqueue has 64 handles (``PJ_IOQUEUE_MAX_HANDLES``,
compiled into the wheel) and every call, incoming or an agent leg, registers two
media sockets (RTP and RTCP) in it. pjsua creates them *before*
``onIncomingCall`` runs, and when the call ends pjlib keeps each handle on its
closing list for another 500 ms (``PJ_IOQUEUE_KEY_FREE_DELAY``, safe
unregistration). Four calls a worker is pjsua's own cap, but calls that hang
up at once free their slot long before their sockets: at tens of calls a
second the free list empties and pjsua aborts in ``pj_ioqueue_register_sock2``.
None of these constants (handles, delay, sockets per call) can be changed from
Python; ``rtcpMuxEnabled`` does not drop the RTCP socket either, since the
sockets exist before the offer is read.

What Python does control is the call slot: pjsua answers 486 by itself while
four calls exist, *without* creating sockets. So the gate counts the handles
that are, or may still be, held: calls alive plus calls ended within
``release_s``. A call that arrives above ``budget`` already has its sockets (it
cannot be undone) but is not answered: it is *parked*, holding its slot so
pjsua turns away further INVITEs for free, and refused with ``503`` and
``Retry-After`` once enough handles came back. At most four calls can be
parked or alive, so the handles in use stay under ``2 * (budget + 4) + 1``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

if TYPE_CHECKING:
    from channels.sip.worker import Line

log = logging.getLogger(__name__)
BUDGET = 20
"""Calls (alive or ended within ``RELEASE_S``) a worker may hold sockets for: 2·(20+4)+1 < 64."""
RELEASE_S = 1.0
"""How long an ended call's sockets are counted: pjlib frees them after 500 ms; twice for margin."""
RETRY_AFTER_S = 1
"""What a refused caller (or Kamailio) is told to wait before dialling again."""


class SetupGate:
    """Counts calls whose media sockets may still be registered; says when a new one must wait."""

    def __init__(self, budget: int = BUDGET, release_s: float = RELEASE_S) -> None:
        self.budget, self.release_s = budget, release_s
        self._ended: deque[float] = deque()
        self.refused = 0

    def ended(self, now: float | None = None) -> None:
        """A call (ours, an agent leg, a refused one) ended: its sockets go back in ``release_s``."""
        self._ended.append(time.monotonic() if now is None else now)

    def recent(self, now: float) -> int:
        """Calls ended less than ``release_s`` ago (their sockets may not be free yet)."""
        while self._ended and now - self._ended[0] >= self.release_s:
            self._ended.popleft()
        return len(self._ended)

    def full(self, alive: int, now: float) -> bool:
        """Whether ``alive`` calls (the newcomer included) and the recent ones exceed the budget."""
        return alive + self.recent(now) > self.budget


class Refused(pj.Call):  # type: ignore[misc]
    """An incoming call above the gate: held unanswered, then refused with 503 and Retry-After."""

    def __init__(self, line: Line, call_id: int) -> None:
        super().__init__(line.account, call_id)
        self.line = line
        self.ended = False

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True  # refused by us, or the caller gave up (CANCEL) meanwhile
            self.line.gate.ended()

    def refuse(self) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = pj.PJSIP_SC_SERVICE_UNAVAILABLE
        prm.reason = "Too Many Calls"
        header = pj.SipHeader()
        header.hName, header.hValue = "Retry-After", str(RETRY_AFTER_S)
        prm.txOption.headers.append(header)
        try:
            self.hangup(prm)
        except pj.Error as exc:
            log.warning("refusing a call: %s", exc.info())


def release(line: Line, parked: list[Refused]) -> list[Refused]:
    """Refuse parked calls while the gate has room; the ones still waiting are returned.

    Each refusal frees a slot and counts as a recent end, so refusals are spaced
    at the rate the budget allows, never all at once.
    """
    now = time.monotonic()
    line.dead += [call for call in parked if call.ended]
    waiting = [call for call in parked if not call.ended]
    while waiting and not line.gate.full(line.alive(), now):
        call = waiting.pop(0)
        line.gate.refused += 1
        log.info("refusing a call above the set-up rate (503, Retry-After %d)", RETRY_AFTER_S)
        call.refuse()
        line.dead.append(call)
    return waiting
