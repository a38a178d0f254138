"""A harness for the JSON API: the whole app, demo accounts with tokens, cases at any stage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contract.envelope import Channel, Envelope
from desks.access.accounts import DEMO_ACCOUNTS, seed_demo_accounts
from desks.access.auth import issue_token
from desks.api import API, ApiDeps
from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.callbacks import DISSATISFIED, record_callback, request_rating
from forwarder.findings import record_charge
from forwarder.workflow_base import Actor, Context, unit_by_code
from registrar.attachments import AttachmentStore
from registrar.models import Account, Case, Notice, NoticeStatus
from registrar.registration import register
from tests.forwarder import kit

#: Cheap argon2 parameters: tests hash a dozen passwords per app.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
T = TypeVar("T")
USERS = tuple(u for u, *_ in DEMO_ACCOUNTS)

#: The stages a case can be brought to before a call, in order along the main path.
STAGES = ("registered", "accepted", "dispatched", "read", "drafted", "approved", "submitted",
          "answered", "return_requested")


class Api:
    """Calls the API as one of the demo users; prepares cases through the workflow itself."""

    def __init__(self, client: TestClient[Any, Any], tokens: dict[str, str], root: Path) -> None:
        self.client, self.tokens, self.store = client, tokens, AttachmentStore(root)
        self.count = 0

    @property
    def deps(self) -> ApiDeps:
        deps: ApiDeps = self.client.app[API]
        return deps

    def headers(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}

    async def get(self, user: str | None, path: str, **params: str) -> tuple[int, Any]:
        response = await self.client.get(f"/api{path}", params=params, headers=self.headers(user))
        return response.status, await response.json()

    async def post(self, user: str | None, path: str, body: Any = None) -> tuple[int, Any]:
        response = await self.client.post(f"/api{path}", json=body if body is not None else {},
                                          headers=self.headers(user))
        return response.status, await response.json()

    async def tx(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.deps.sessionmaker.begin() as session:
            return await work(session)

    async def register(self, text: str = "鼓楼区五四路路灯不亮已经一周", *, public: bool = True,
                       sender: str = "+8613905910001") -> str:
        self.count += 1
        envelope = Envelope(channel=Channel.SMS_MODEM, external_id=f"api-{self.count}",
                            received_at=self.deps.ctx.clock.now(), text=text, sender=sender,
                            reply_address=sender, public_allowed=public)

        async def work(session: AsyncSession) -> str:
            result = await register(session, envelope, clock=self.deps.ctx.clock, store=self.store,
                                    due=self.deps.ctx.due)
            return result.case.number
        return await self.tx(work)

    async def charge(self, unit: str = "city-urban") -> int:
        """An R11.2b finding against ``unit`` on a fresh dispatched case, as the sweeper records it."""
        number, aid = await self.case_at("dispatched", unit=unit)

        async def work(session: AsyncSession) -> int:
            case = (await session.execute(select(Case).where(Case.number == number))).scalar_one()
            charged = await unit_by_code(session, unit)
            made = record_charge(session, case=case, assignment_id=aid, charged=charged, late=charged,
                                 persons=["经办人"], at=self.deps.ctx.clock.now())
            await session.flush()
            return made.id
        return await self.tx(work)

    async def case_at(self, stage: str, *, unit: str = "city-urban",
                      internal_reason: str | None = None) -> tuple[str, int]:
        """A new case brought to ``stage`` for ``unit`` (a city unit, or a gulou unit by way of
        the gulou bureau); returns its number and the unit's assignment id (0 if none yet).

        ``dissatisfied`` (after the main path): answered, sent, and rated 3 on the call-back."""
        if stage == "dissatisfied":
            number, aid = await self.case_at("answered", unit=unit)
            await self.tx(lambda session: dissatisfy(session, self.deps.ctx, number))
            return number, aid
        number = await self.register()
        ctx = self.deps.ctx
        district = unit.startswith("gulou-")
        handler = Actor("经办人", "unit_handler", unit)
        steps = STAGES[1:STAGES.index(stage) + 1]
        if stage == "return_requested":
            steps = ("accepted", "dispatched", "return_requested")

        async def work(session: AsyncSession) -> int:
            assignment_id = 0
            for step in steps:
                if step == "accepted":
                    await wf.accept(session, ctx, number, kit.CITY, internal_reason=internal_reason)
                elif step == "dispatched":
                    if district:
                        await wf.dispatch(session, ctx, number, "gulou-bureau", kit.CITY)
                        made = await wf.district_dispatch(session, ctx, number, unit, kit.GULOU)
                    else:
                        made = await wf.dispatch(session, ctx, number, unit, kit.CITY)
                    assignment_id = made[0].id
                elif step == "read":
                    await wf.read(session, ctx, assignment_id, handler)
                elif step == "drafted":
                    await wf.draft(session, ctx, assignment_id, wf.Answer("已派人维修，路灯已恢复。"),
                                   handler)
                elif step == "approved":
                    await wf.approve(session, ctx, assignment_id, kit.leader_of(handler))
                elif step == "submitted":
                    await wf.submit(session, ctx, assignment_id, handler)
                elif step == "answered":
                    reviewer = kit.GULOU if district else kit.CITY
                    await wf.review(session, ctx, assignment_id, passed=True, actor=reviewer)
                elif step == "return_requested":
                    await special.request_return(session, ctx, assignment_id, reason="不属本单位职责",
                                                 proposed_unit="city-housing", actor=handler)
            return assignment_id
        return number, await self.tx(work)


async def dissatisfy(session: AsyncSession, ctx: Context, number: str) -> None:
    """R12: publish an answered SMS case, record its answer as sent (the outbox's part) and
    the citizen's "3" on the rating request that follows."""
    now = ctx.clock.now()
    case = (await session.execute(select(Case).where(Case.number == number))).scalar_one()
    await wf.decide_publication(session, ctx, number, publish=True, actor=kit.CITY)
    await session.flush()
    answer = (await session.execute(select(Notice).where(
        Notice.case_id == case.id, Notice.kind == "answer").order_by(Notice.id.desc())
        .limit(1))).scalar_one()
    answer.status, answer.sent_at = NoticeStatus.SENT, now
    request = await request_rating(session, answer, now=now, window_days=7)
    assert request is not None
    request.status, request.sent_at = NoticeStatus.SENT, now
    await record_callback(session, request, DISSATISFIED, via=Channel.SMS_MODEM, now=now)


async def make_api(client: TestClient[Any, Any], root: Path) -> Api:
    deps: ApiDeps = client.app[API]

    async def seed(session: AsyncSession) -> dict[str, str]:
        now = deps.ctx.clock.now()
        await seed_demo_accounts(session, now, hasher=FAST_HASHER)
        accounts = (await session.execute(select(Account))).scalars()
        return {a.username: await issue_token(session, a, label="test", now=now) for a in accounts}

    async with deps.sessionmaker.begin() as session:
        tokens = await seed(session)
    return Api(client, tokens, root)
