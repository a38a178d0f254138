"""``hotline findings list|decide|contest|notice --as USER``: the efficiency office's findings.

The command line is a third door to the same record as the desk and the API
(``desks.api.findings``): it calls the same functions after the same role check
and the same visibility rule, as the account named by ``--as``, in one
transaction. An operator can so work through findings in a script (or when the
web is down) without a way around who may judge, contest or see what.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from desks.access.permissions import require_role
from desks.access.principal import Principal
from desks.api import findings as api
from forwarder.workflow_base import Context
from intake.operator_args import Subparsers, acting_command
from registrar.models_supervision import Decision, FindingStatus


def register_findings(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add ``hotline findings …`` to ``sub``."""
    commands = sub.add_parser("findings", help="the efficiency office's findings (R11.2b, R11.1)"
                              ).add_subparsers(dest="findings_command", required=True)

    op = partial(acting_command, commands)

    listing = op("list", "findings within the account's scope, newest first, with history")
    listing.add_argument("--status", choices=[s.value for s in FindingStatus])
    listing.add_argument("--unit", help="unit code")
    listing.add_argument("--month", metavar="YYYY-MM")
    decide = op("decide", "the office: confirm, waive, judge a lead refusal, uphold or withdraw")
    decide.add_argument("finding", help="finding id")
    decide.add_argument("decision", choices=[d.value for d in Decision
                                             if d not in (Decision.ISSUE, Decision.CONTEST)])
    decide.add_argument("--reason", required=True)
    contest = op("contest", "the charged unit contests a notice or warning within its window")
    contest.add_argument("finding", help="finding id")
    contest.add_argument("--reason", required=True)
    notice = op("notice", "the office issues a notice (通报) by hand")
    notice.add_argument("unit", help="unit code")
    notice.add_argument("--reason", required=True)
    notice.add_argument("--case", help="case number it concerns")


def _lines(view: api.FindingView, now: datetime) -> list[str]:
    """One finding: a head line, its reason, then its decisions oldest first."""
    f = view.finding
    window = f"contest until {view.contest_until.isoformat()}" if view.contestable(now) else "no contest"
    head = f"#{f.id}  {f.kind:<7} {f.status:<10} {view.unit.code:<20} {view.case_number or '-':<26} {window}"
    return [head, f"    {f.reason}",
            *(f"    {d.at.isoformat()}  {d.decision:<16} {d.reason}  ({d.decided_by})" for d in view.history)]


async def run_findings(session: AsyncSession, ctx: Context, principal: Principal,
                       args: argparse.Namespace) -> str:
    """Run one ``hotline findings`` command as ``principal``; refusals raise (exit 1)."""
    command = args.findings_command
    if command == "list":
        require_role(principal, "findings")
        params = {k: getattr(args, k) or "" for k in ("status", "unit", "month")}
        scope = api.scope_from(principal, params, ctx.clock.now().tzinfo)
        views = await api.finding_views(session, ctx, scope)
        lines = [line for v in views for line in _lines(v, ctx.clock.now())]
        return "\n".join([*lines, f"hotline: {len(views)} finding(s)"])
    if command == "notice":
        require_role(principal, "hand_notice")
        result = await api.hand_notice(session, ctx, principal, {
            "unit": args.unit, "reason": args.reason, "case": args.case})
    else:
        action, call = (("decide_finding", api.decide) if command == "decide"
                        else ("contest_finding", api.contest))
        require_role(principal, action)
        finding = await api.visible_finding(session, principal, args.finding)
        body = {"reason": args.reason, **({"decision": args.decision} if command == "decide" else {})}
        result = await call(session, ctx, finding, principal, body)
    made = result["finding"]
    return f"hotline: finding #{made['id']} ({made['kind']}, {made['unit']}) {made['status']}"
