"""Consultations answered on the call (咨询直办, issue 13 item 2), and calls that chase an
earlier item (催办).

A citizen who asks how something works (社保转移怎么办理？) is answered by the agent from
the knowledge base: the city bureau's policy entries, valid on the day, and the answers
already published. The call is still registered like every item (R5.1: one record per
item, the same day); ``answer_on_call`` then closes it at once with the answer given and
what it rests on, as a ``consultation`` the figures count apart from dispatched items.
Its city-bureau queue entry is screened and its dispatch clock met, so no one is charged
for an item that needed no unit.

A repeat caller asking after an open item is not a new item: ``urge`` records the chase
on the earlier case (an event the handling unit sees in its history).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.workflow_base import (
    Actor,
    Context,
    WorkflowError,
    add_event,
    load_case,
    move_assignment,
    move_case,
    unit_by_code,
)
from registrar.deadlines import meet_deadlines
from registrar.models import (
    CASE_CONSULTATION,
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    Classification,
    DeadlineKind,
    Role,
)
from registrar.models_knowledge import KnowledgeEntry

SEARCH_LIMIT = 10
MAX_ANSWER_CHARS = 2000


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True, slots=True)
class Hit:
    """One knowledge-base answer: a policy entry (``policy``) or a published answer (``answer``)."""

    kind: str
    ref: str
    title: str
    body: str
    source: str
    category: str = ""
    valid_until: date | None = None


def in_force(today: date) -> list[ColumnElement[bool]]:
    """Conditions for a policy entry an agent may read out today."""
    return [KnowledgeEntry.retired_at.is_(None), KnowledgeEntry.valid_from <= today,
            or_(KnowledgeEntry.valid_until.is_(None), KnowledgeEntry.valid_until >= today)]


async def search(session: AsyncSession, words: str, *, today: date, category: str = "",
                 limit: int = SEARCH_LIMIT) -> list[Hit]:
    """Policy entries in force today, then published answers, that contain ``words``."""
    words = words.strip()[:50]
    pattern = _like(words)
    query = select(KnowledgeEntry).where(*in_force(today))
    if words:
        query = query.where(or_(KnowledgeEntry.title.like(pattern, escape="\\"),
                                KnowledgeEntry.body.like(pattern, escape="\\")))
    if category:
        query = query.where(KnowledgeEntry.category == category)
    entries = (await session.execute(query.order_by(KnowledgeEntry.id.desc()).limit(limit))).scalars()
    hits = [Hit("policy", f"policy:{e.id}", e.title, e.body, e.source, e.category, e.valid_until)
            for e in entries]
    if words and len(hits) < limit:
        published = (await session.execute(
            select(Case).where(Case.published_at.is_not(None), Case.published_text.is_not(None),
                               or_(Case.published_text.like(pattern, escape="\\"),
                                   Case.published_summary.like(pattern, escape="\\")))
            .order_by(Case.published_at.desc()).limit(limit - len(hits)))).scalars()
        hits += [Hit("answer", f"answer:{c.number}", (c.published_summary or "")[:60],
                     c.published_text or "", f"公开答复 {c.number}") for c in published]
    return hits


async def add_entry(session: AsyncSession, *, title: str, body: str, category: str, source: str,
                    valid_from: date, valid_until: date | None, actor: Actor,
                    now: datetime) -> KnowledgeEntry:
    """The city bureau adds a policy entry; every field but the end date is required."""
    if actor.role != Role.CITY_BUREAU or actor.unit_code is None:
        raise WorkflowError("只有市信访局可以维护知识库", code="forbidden")
    values = {"标题": title.strip(), "答复内容": body.strip(), "类别": category.strip(),
              "依据": source.strip()}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise WorkflowError(f"请填写{'、'.join(missing)}", code="invalid")
    if valid_until is not None and valid_until < valid_from:
        raise WorkflowError("有效期的结束日期不能早于开始日期", code="invalid")
    unit = await unit_by_code(session, actor.unit_code)
    entry = KnowledgeEntry(title=values["标题"][:200], body=values["答复内容"][:MAX_ANSWER_CHARS],
                           category=values["类别"][:32], source=values["依据"][:200],
                           valid_from=valid_from, valid_until=valid_until, unit_id=unit.id,
                           created_at=now, updated_at=now, retired_at=None)
    session.add(entry)
    await session.flush()
    return entry


async def retire_entry(session: AsyncSession, entry_id: int, *, actor: Actor, now: datetime) -> None:
    """Take an entry out of use (kept for the cases that cite it)."""
    if actor.role != Role.CITY_BUREAU:
        raise WorkflowError("只有市信访局可以维护知识库", code="forbidden")
    entry = await session.get(KnowledgeEntry, entry_id)
    if entry is None:
        raise WorkflowError("没有这条知识库条目", code="not_found")
    entry.retired_at = entry.updated_at = now


async def answer_on_call(session: AsyncSession, ctx: Context, number: str, *, answer: str,
                         source: str, actor: Actor) -> Case:
    """Close a just-registered call as a consultation answered on the spot (咨询直办)."""
    if actor.role != Role.AGENT:
        raise WorkflowError("只有坐席可以当场解答咨询", code="forbidden")
    body, basis = answer.strip(), source.strip()
    if not body or not basis:
        raise WorkflowError("请填写解答内容，并注明依据（知识库条目或公开答复）", code="invalid")
    now = ctx.clock.now()
    case = await load_case(session, number)
    queue = (await session.execute(select(Assignment).where(
        Assignment.case_id == case.id, Assignment.role == AssignmentRole.BUREAU,
        Assignment.state == AssignmentState.QUEUED))).scalars().first()
    move_case(session, case, "answer_on_call", actor, now=now,
              data={"source": basis[:200], "classification": Classification.CONSULTATION})
    case.classification = Classification.CONSULTATION
    case.answer_text = body[:MAX_ANSWER_CHARS]
    case.notes = [*case.notes, f"source={basis[:200]}"]
    case.closed_at = now
    if queue is not None:
        move_assignment(session, case, queue, "screened", actor, now=now, reason="咨询当场解答")
        await meet_deadlines(session, queue.id, [DeadlineKind.DISPATCH], now)
    return case


async def urge(session: AsyncSession, ctx: Context, number: str, *, note: str, actor: Actor) -> Case:
    """A repeat caller chases an open item (催办): recorded on it, no new item opened."""
    if actor.role != Role.AGENT:
        raise WorkflowError("只有坐席可以登记来电催办", code="forbidden")
    case = await load_case(session, number, lock=False)
    if case.status in (CaseStatus.CLOSED, CaseStatus.NOT_ACCEPTED, CaseStatus.STOPPED):
        raise WorkflowError(f"案件 {number} 已办结，不能催办：如有新问题请另行登记")
    add_event(session, case, actor, "urged", now=ctx.clock.now(), reason=note.strip()[:500] or None)
    return case


def consultations_query(start: datetime, end: datetime) -> Select[int]:
    """The count of consultations closed in ``[start, end)``. ``CASE_CONSULTATION`` is written
    into the SQL so the count reads its partial index, not every case (a million: 100 ms)."""
    return select(func.count(Case.id)).where(CASE_CONSULTATION, Case.closed_at >= start,
                                             Case.closed_at < end)


async def consultations(session: AsyncSession, start: datetime, end: datetime) -> int:
    """Consultations answered on the call between ``start`` and ``end``: the figures count
    them apart from the items dispatched to units."""
    return int(await session.scalar(consultations_query(start, end)) or 0)
