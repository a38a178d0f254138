"""R3.8: the emergency services a citizen is told to call, and an agent can hand a call to."""

from __future__ import annotations

EMERGENCY_SERVICES: dict[str, str] = {"110": "报警", "119": "火警", "120": "急救", "122": "交通事故"}
"""Number → what it is for, in the words the pages and the voice use."""
