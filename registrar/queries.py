"""Read-side queries used by the CLI and the desks (no writes here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from registrar.models import Assignment, Case, Deadline, Event, Notice, Unit


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case with everything stored about it, for `hotline case show` and the desks."""

    case: Case
    events: list[Event]
    notices: list[Notice]
    assignments: list[tuple[Assignment, Unit]]
    deadlines: list[Deadline]


async def case_detail(session: AsyncSession, number: str) -> CaseDetail | None:
    case = (await session.execute(
        select(Case).options(selectinload(Case.attachments)).where(Case.number == number)
    )).scalar_one_or_none()
    if case is None:
        return None
    events = list((await session.execute(
        select(Event).where(Event.case_id == case.id).order_by(Event.at, Event.id)
    )).scalars())
    notices = list((await session.execute(
        select(Notice).where(Notice.case_id == case.id).order_by(Notice.id)
    )).scalars())
    assignments = [(a, u) for a, u in (await session.execute(
        select(Assignment, Unit).join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.case_id == case.id).order_by(Assignment.id)
    ))]
    deadlines = list((await session.execute(
        select(Deadline).where(Deadline.case_id == case.id).order_by(Deadline.id))).scalars())
    return CaseDetail(case, events, notices, assignments, deadlines)


def format_case_detail(detail: CaseDetail, *, tz: ZoneInfo) -> str:
    """Plain-text rendering for the terminal, times in the city's zone."""
    c = detail.case

    def t(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else "-"

    lines = [
        f"案件编号 Case      {c.number}    查询码 {c.query_code}",
        f"状态 Status        {c.status}",
        f"渠道 Channel       {c.channel}  (external id {c.external_id})",
        f"收到 Received      {t(c.received_at)}    登记 Registered {t(c.registered_at)}",
        f"诉求人 Sender      {c.display_name or '-'}  {c.sender or '-'}",
        f"回复 Reply to      {c.reply_address or '-'}",
        f"公开 Public        {'同意公开' if c.public_allowed else '不同意公开'}",
        f"区域 District      {c.district_hint or '-'}   地点 {c.location_hint or '-'}",
        "内容 Text:",
        *("    " + line for line in c.text.splitlines()),
    ]
    if c.notes:
        lines.append("备注 Notes:       " + "; ".join(c.notes))
    lines.append(f"附件 Attachments ({len(c.attachments)}):")
    lines += [f"    {a.filename}  {a.content_type}  {a.size} B  sha256 {a.sha256[:16]}…"
              for a in c.attachments]
    lines.append("办理 Assignments:")
    for a, u in detail.assignments:
        flags = [name for name, on in (("迟阅 late reading", a.late_read),
                                       ("逾期办理 overdue", a.overdue_handling),
                                       ("过期未处理 expired unhandled", a.expired_unhandled)) if on]
        lines.append(f"    #{a.id} {u.name} [{u.code}]  {a.role}  {a.state}"
                     + (f"  !{', '.join(flags)}" if flags else ""))
        for d in (d for d in detail.deadlines if d.assignment_id == a.id):
            state = ("cancelled " if d.cancelled else "met ") + t(d.met_at) if d.met_at else (
                "MISSED" if d.missed else "open")
            lines.append(f"        {d.rule:<6} {d.kind:<16} due {t(d.due_at)}"
                         f"{' (provisional)' if d.provisional else ''}  {state}")
    lines.append("事件 Events:")
    lines += [f"    {t(e.at)}  {e.action:<26} {e.from_state or '':>10} → {e.to_state or '':<12} "
              f"by {e.actor}" + (f"  ({e.reason})" if e.reason else "") for e in detail.events]
    lines.append("通知 Notices:")
    lines += [f"    #{n.id} {n.kind} via {n.channel} to {n.address or '-'}: {n.status}"
              + (f" [{n.last_error}]" if n.last_error else "") + f"\n        {n.text}"
              for n in detail.notices]
    return "\n".join(lines)
