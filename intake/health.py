"""``/healthz``'s database probe, shared by concurrent requests and reused for a moment.

Load balancers poll ``/healthz`` often, from several places at once; a probe
per request would spend a database round trip (and a pool connection) on
each. One probe answers every request that arrives while it runs, and its
answer is reused for ``max_age_s``, so the page costs about what a static one
does while still reporting an outage within a second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(slots=True)
class DatabaseProbe:
    """``check()`` is None when the database answered ``SELECT 1``, else the reason it did not."""

    engine: AsyncEngine
    max_age_s: float = 0.5
    _result: str | None = None
    _checked_at: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _fresh(self) -> bool:
        return time.monotonic() - self._checked_at < self.max_age_s

    async def check(self) -> str | None:
        if self._fresh():
            return self._result
        async with self._lock:
            if not self._fresh():  # nobody probed while this request waited for the lock
                self._result = await self._probe()
                self._checked_at = time.monotonic()
            return self._result

    async def _probe(self) -> str | None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure here means "not healthy", reported, not hidden
            return str(exc)[:200]
        return None
