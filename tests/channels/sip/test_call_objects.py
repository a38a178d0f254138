"""The line's loop keeps no call object alive past its end (the lost-DISCONNECTED race).

pjsua2's ``~Call`` clears the user data of, and hangs up, whatever call holds
its pjsua slot. The line therefore drops an ended call's object only while its
slot is free (``Line._bury``), which works only if dropping it destroys it at
once. ``run`` used to poll the calls in a loop whose variable held the last call
polled until the next poll with calls: an ended call was destroyed then, possibly
after a new call took its slot, which lost that call's DISCONNECTED and hung it
up. Checked here without SIP: a fake endpoint drives the real loop.
"""

from __future__ import annotations

import queue
import weakref
from types import SimpleNamespace
from typing import Any

from channels.sip.worker import Line


class _Call:
    ended = False

    def poll_silence(self, now: float, *, level: int, after_s: float) -> None:
        """Polled like a call (nothing to record)."""


class _Endpoint:
    """Three turns of ``libHandleEvents``: a call is polled, it ends, is it gone?"""

    def __init__(self, line: Line, call: weakref.ref[_Call]) -> None:
        self.line, self.call, self.turns = line, call, 0
        self.alive_after_drop: bool | None = None

    def libHandleEvents(self, ms: int) -> None:
        self.turns += 1
        if self.turns == 2:
            self.line.calls.clear()  # the call ended; the line holds it no more
        elif self.turns == 3:
            self.alive_after_drop = self.call() is not None
            self.line.running = False


def test_an_ended_call_object_is_not_kept_alive_by_the_loop() -> None:
    line: Any = Line.__new__(Line)  # no Endpoint: the loop only, with a fake one
    call = _Call()
    ref = weakref.ref(call)
    line.calls = {"c1": call}
    del call
    line.config = SimpleNamespace(silence_level=0, silence_s=1.0)
    line.inbox, line.timers, line.parked, line.legs, line.dead = queue.SimpleQueue(), [], [], [], []
    line.running = True
    line.ep = _Endpoint(line, ref)
    line.run()
    assert line.ep.turns == 3
    assert line.ep.alive_after_drop is False
