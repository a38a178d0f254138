"""Workflow fixtures: a context on the real 2026 calendar and a registered case factory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.workflow_base import Context
from registrar.attachments import AttachmentStore
from registrar.models import Case
from registrar.registration import register
from tests.conftest import TZ


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.load(zone=TZ)


@pytest.fixture
def ctx(clock: FixedClock, calendar: WorkingCalendar) -> Context:
    return Context(clock=clock, due=CalendarDuePolicy(calendar), sms_channel=Channel.SMS_MODEM)


class Maker:
    """Registers cases through the real registrar, numbering their external ids."""

    def __init__(self, session: AsyncSession, ctx: Context, root: Path) -> None:
        self.session, self.ctx, self.store = session, ctx, AttachmentStore(root)
        self.count = 0

    async def case(self, text: str = "鼓楼区五四路路灯不亮已经一周", *,
                   channel: Channel = Channel.SMS_MODEM, sender: str = "+8613905910001",
                   public: bool = True, at: datetime | None = None) -> Case:
        self.count += 1
        clock = self.ctx.clock
        assert isinstance(clock, FixedClock)
        if at is not None:
            clock.moment = at
        envelope = Envelope(channel=channel, external_id=f"ext-{self.count}",
                            received_at=clock.now(), text=text, sender=sender,
                            reply_address=sender, public_allowed=public)
        result = await register(self.session, envelope, clock=clock, store=self.store,
                                due=self.ctx.due)
        return result.case


@pytest.fixture
def make(session: AsyncSession, ctx: Context, tmp_path: Path) -> Maker:
    return Maker(session, ctx, tmp_path)
