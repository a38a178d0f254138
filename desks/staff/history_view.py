"""A case's history as the desk shows it: one line per step, in words, outbox retries folded.

The stored events are for audit: every status change of every notice is a row
(sending, retry, retry, sent, delivered), actors are ``name@unit-code`` or
``channel:sms_modem``. A member of staff wants to read what happened: the
workflow steps one per line, and each notice as one line that says how it ended
and after how many tries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from desks.staff.pages_cases_view import CHANNELS, EVENT_ACTION, NOTICE_KIND, NOTICE_STATUS
from desks.words import send_error
from registrar.models import Event

#: Actors that are the system itself.
SYSTEM_ACTORS: dict[str, str] = {"outbox": "系统（通知发送）", "sweeper": "系统（期限检查）",
                                 "system": "系统"}


def actor_words(actor: str, names: dict[str, str]) -> str:
    """``黄国平@city-bureau`` → ``黄国平（福州市信访局）``; a channel or the system in words."""
    if actor.startswith("channel:"):
        return CHANNELS.get(actor.split(":", 1)[1], "其他") + "渠道"
    if actor in SYSTEM_ACTORS:
        return SYSTEM_ACTORS[actor]
    name, sep, code = actor.partition("@")
    if sep:
        return f"{name}（{names.get(code, '本单位')}）"
    return actor


@dataclass(slots=True)
class HistoryLine:
    """One line of the history: when, what, who, and the details worth reading."""

    at: datetime
    action: str
    actor: str
    reason: str = ""
    deadline: datetime | None = None
    unit: str = ""
    to: str = ""
    notice: int | None = None
    tries: int = 0
    problems: list[str] = field(default_factory=list)


def _notice_line(event: Event, line: HistoryLine | None) -> HistoryLine:
    data = event.data or {}
    kind = NOTICE_KIND.get(str(data.get("kind", "")), "通知")
    channel = CHANNELS.get(str(data.get("channel", "")), "")
    status = NOTICE_STATUS.get(event.to_state or "", "")
    if line is None:
        line = HistoryLine(event.at, "", SYSTEM_ACTORS["outbox"], notice=data.get("notice"))
    line.tries = max(line.tries, int(data.get("attempts") or 0))
    if event.action in ("notice_retry", "notice_fallback", "notice_failed") and event.reason:
        problem = send_error(event.reason)
        if problem not in line.problems:
            line.problems.append(problem)
    line.action = f"{kind}（{channel}）：{status}" if channel else f"{kind}：{status}"
    return line


def history_lines(events: list[Event], names: dict[str, str], *, channel: str) -> list[HistoryLine]:
    """The events of one case as lines; the events of each notice become one line."""
    lines: list[HistoryLine] = []
    by_notice: dict[object, HistoryLine] = {}
    for event in events:
        data = event.data or {}
        if event.action.startswith("notice_") and data.get("notice") is not None:
            key = data["notice"]
            folded = _notice_line(event, by_notice.get(key))
            if key not in by_notice:
                by_notice[key] = folded
                lines.append(folded)
            continue
        action = EVENT_ACTION.get(event.action, "其他操作")
        if event.action == "transcribed":
            action = "传真录入" if channel == "fax" else "录音听录"
        lines.append(HistoryLine(
            event.at, action, actor_words(event.actor, names), reason=event.reason or "",
            deadline=event.deadline, unit=names.get(str(data.get("unit", "")), ""),
            to=names.get(str(data.get("to", "")), "")))
    return lines
