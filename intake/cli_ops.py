"""Operator subcommands of ``hotline``: accounts and tokens, and case actions as a named user.

``hotline user add|token|revoke`` manage who may use the desks and the API.
``hotline case accept|not-accept|dispatch|review|publish|repeats|act|actions --as USER``
run one workflow action in one transaction, as that account: its role and
unit are checked exactly as the JSON API checks them, so the command line is
no back door around the permissions.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from contract.clock import Clock, SystemClock
from desks.access.accounts import AccountError, create_account
from desks.access.auth import issue_token, principal_of, revoke_tokens
from desks.access.errors import ApiError
from desks.access.permissions import require_role, visible
from desks.access.principal import Principal
from desks.api import actions as api_actions
from desks.api.actions import visible_assignment, visible_case
from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.allowed import Allowed, allowed_on
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.rules import load_revisions
from forwarder.workflow_base import Context, WorkflowError
from intake.cli_findings import register_findings, run_findings
from intake.operator_args import Subparsers, acting_command
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Account, Case, Role
from registrar.queries import case_detail

CASE_OPS = ("accept", "not-accept", "dispatch", "review", "publish", "repeats", "act", "actions")


#: ``hotline case act`` names → (the API's permission name, the API's action function).
CASE_ACTIONS: dict[str, tuple[str, api_actions.CaseCall]] = {
    "not-accept": ("not_accept", api_actions.not_accept), "accept": ("accept", api_actions.accept),
    "dispatch": ("dispatch", api_actions.dispatch), "split": ("split", api_actions.split),
    "escalate": ("escalate", api_actions.escalate), "stop": ("stop", api_actions.stop),
    "publication": ("publication", api_actions.publication),
    "callback-follow-up": ("callback_follow_up", api_actions.callback_follow_up),
}
ASSIGNMENT_ACTIONS: dict[str, tuple[str, api_actions.AssignmentCall]] = {
    "read": ("read", api_actions.read), "draft": ("draft", api_actions.draft),
    "approve": ("approve", api_actions.approve), "submit": ("submit", api_actions.submit),
    "return": ("return", api_actions.request_return),
    "return-decision": ("return_decision", api_actions.return_decision),
    "review": ("review", api_actions.review),
    "coordinate": ("coordinate", api_actions.coordinate),
}


def make_clock(settings: Settings) -> Clock:
    """The clock operator actions run on (tests replace it)."""
    return SystemClock(settings.tz)


def register_ops(sub: Subparsers[argparse.ArgumentParser],
                 case_commands: Subparsers[argparse.ArgumentParser]) -> None:
    """Add ``hotline user …`` and ``hotline findings …`` to ``sub``, and the case actions to
    ``hotline case …``."""
    register_findings(sub)
    user = sub.add_parser("user", help="accounts and API tokens").add_subparsers(
        dest="user_command", required=True)
    add = user.add_parser("add", help="add an account (password from the terminal or stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--unit", help="unit code (config/organisation.toml); none for admins")
    add.add_argument("--name", required=True, help="the person's name, shown in the case history")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    token = user.add_parser("token", help="issue an API token (printed once, only its hash kept)")
    token.add_argument("username")
    token.add_argument("--label", default="cli")
    revoke = user.add_parser("revoke", help="revoke the user's API tokens")
    revoke.add_argument("username")
    revoke.add_argument("--label", help="only the tokens with this label")

    op = partial(acting_command, case_commands)

    accept = op("accept", "screening passed: accept and classify (R4.3, R6)")
    accept.add_argument("number")
    accept.add_argument("--internal", metavar="R6.x", help="classify internal for this reason")
    accept.add_argument("--reserved", action="store_true", help="the city bureau reviews finally (R8.4d)")
    not_accept = op("not-accept", "screened out under Article 3 (R3.1–R3.9)")
    not_accept.add_argument("number")
    not_accept.add_argument("reason", metavar="R3.x")
    not_accept.add_argument("--note", default="")
    dispatch = op("dispatch", "send to a unit or district bureau (R4.1, R7.2, R7.3)")
    dispatch.add_argument("number")
    dispatch.add_argument("unit")
    dispatch.add_argument("--co", action="append", default=[], metavar="UNIT",
                          help="co-handling unit (R8.6), repeatable")
    review = op("review", "review a submitted answer (R8.4)")
    review.add_argument("assignment", help="assignment id")
    verdict = review.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--pass", dest="passed", action="store_true")
    verdict.add_argument("--fail", dest="passed", action="store_false")
    review.add_argument("--comment", default="")
    publish = op("publish", "decide publication and send the answer (R9)")
    publish.add_argument("number")
    choice = publish.add_mutually_exclusive_group(required=True)
    choice.add_argument("--yes", dest="publish", action="store_true")
    choice.add_argument("--no", dest="publish", action="store_false")
    repeats = op("repeats", "earlier similar items of the same citizen (R8.5)")
    repeats.add_argument("number")
    act = op("act", "any workflow action, with the API's body fields: e.g. "
             "`act read 12 --as urban`, `act split NUMBER parts[]=… parts[]=… --as city`")
    act.add_argument("action", choices=sorted({*CASE_ACTIONS, *ASSIGNMENT_ACTIONS}))
    act.add_argument("target", help="case number (case actions) or assignment id")
    act.add_argument("fields", nargs="*", metavar="KEY=VALUE",
                     help="body fields; true/false are booleans, KEY[]=… repeats into a list")
    actions = op("actions", "what the account may do on the case now, and why not the rest")
    actions.add_argument("number")


def handles(args: argparse.Namespace) -> bool:
    """Whether ``args`` is one of the commands ``run_ops`` runs."""
    return args.command in ("user", "findings") or (args.command == "case"
                                      and getattr(args, "case_command", None) in CASE_OPS)


def run_ops(args: argparse.Namespace, settings: Settings) -> int:
    """Run one operator command; 0 on success, 1 when refused (the reason on stderr)."""
    if args.command == "user" and args.user_command == "add":
        password = _read_password(from_stdin=args.password_stdin)
        if password is None:
            return 1
        args.password = password
    try:
        output = asyncio.run(_run(args, settings))
    except (AccountError, ApiError, WorkflowError, LookupError) as exc:
        print(f"hotline: {_message(exc)}", file=sys.stderr)
        return 1
    print(output)
    return 0


def _message(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, WorkflowError):
        return f"{exc.code}: {exc}"
    return str(exc.args[0] if exc.args else exc)


def _read_password(*, from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("hotline: the passwords differ", file=sys.stderr)
        return None
    return first


async def _run(args: argparse.Namespace, settings: Settings) -> str:
    engine = create_engine(settings.database_url)
    clock = make_clock(settings)
    ctx = Context(clock=clock, due=CalendarDuePolicy(WorkingCalendar.load(
        zone=settings.tz, site_file=settings.calendar_path)), sms_channel=settings.worker.sms_channel,
        voice_channel=settings.worker.voice_channel, contest_days=settings.supervision.contest_days,
        revisions=load_revisions(settings.regulation_path))
    try:
        async with make_sessionmaker(engine).begin() as session:
            if args.command == "user":
                return await _user(session, args, clock)
            principal = await _acting(session, args.as_user)
            if args.command == "findings":
                return await run_findings(session, ctx, principal, args)
            return await CASE_HANDLERS[args.case_command](session, ctx, principal, args)
    finally:
        await engine.dispose()


async def _account(session: AsyncSession, username: str) -> Account:
    account = (await session.execute(select(Account).where(Account.username == username))
               ).scalar_one_or_none()
    if account is None:
        raise LookupError(f"no account {username!r}")
    return account


async def _acting(session: AsyncSession, username: str) -> Principal:
    account = await _account(session, username)
    if not account.active:
        raise LookupError(f"account {username!r} is inactive")
    return await principal_of(session, account, via="cli")


async def _user(session: AsyncSession, args: argparse.Namespace, clock: Clock) -> str:
    now = clock.now()
    if args.user_command == "add":
        account = await create_account(session, username=args.username, display_name=args.name,
                                       role=args.role, unit_code=args.unit, password=args.password,
                                       now=now)
        return f"hotline: account {account.username} ({account.role}, {args.unit or 'no unit'}) added"
    account = await _account(session, args.username)
    if args.user_command == "token":
        token = await issue_token(session, account, label=args.label, now=now)
        return f"{token}\n(shown once: only its SHA-256 is stored)"
    count = await revoke_tokens(session, account, now=now, label=args.label)
    return f"hotline: {count} token(s) of {account.username} revoked"


Op = Callable[[AsyncSession, Context, Principal, argparse.Namespace], Awaitable[str]]


async def _accept(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    require_role(p, "accept")
    case = await visible_case(s, p, args.number)
    await wf.accept(s, ctx, case.number, p.actor, internal_reason=args.internal, reserved=args.reserved)
    return f"hotline: {case.number} accepted ({case.classification}" + \
        (f", {case.internal_reason})" if case.internal_reason else ")")


async def _not_accept(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    require_role(p, "not_accept")
    case = await visible_case(s, p, args.number)
    await wf.not_accept(s, ctx, case.number, args.reason, p.actor, note=args.note)
    return f"hotline: {case.number} not accepted ({args.reason}); the citizen will be told"


async def _dispatch(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    require_role(p, "dispatch")
    case = await visible_case(s, p, args.number)
    go = wf.district_dispatch if p.role == Role.DISTRICT_BUREAU else wf.dispatch
    made = await go(s, ctx, case.number, args.unit, p.actor, co_units=tuple(args.co))
    return "\n".join(f"hotline: {case.number} → assignment #{a.id} ({a.role}, {a.state})" for a in made)


async def _review(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    require_role(p, "review")
    row = await visible_assignment(s, p, args.assignment)
    await wf.review(s, ctx, row.id, passed=args.passed, actor=p.actor, comment=args.comment)
    return f"hotline: assignment #{row.id} {row.state}"


async def _publish(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    require_role(p, "publication")
    case = await visible_case(s, p, args.number)
    await wf.decide_publication(s, ctx, case.number, publish=args.publish, actor=p.actor)
    return f"hotline: {case.number} {case.status}, " + \
        ("published" if case.publication == "publish" else "sent to the citizen only")


async def _repeats(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    require_role(p, "repeats")
    case = await visible_case(s, p, args.number)
    found = await special.find_repeats(s, case.number)
    shown = set((await s.execute(select(Case.number).where(
        Case.number.in_([r.number for r in found]), visible(p)))).scalars())
    found = [r for r in found if r.number in shown]  # as the API: hidden items stay hidden
    lines = [f"{r.number}  {r.status:<12} similarity {r.similarity:.2f}"
             + ("  answered" if r.answered else "") for r in found]
    answered = sum(1 for r in found if r.answered)
    return "\n".join([*lines, f"hotline: {len(found)} earlier similar item(s), {answered} answered"])


def body_from(fields: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` words → the JSON body the API action takes."""
    body: dict[str, object] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        if not sep or not key:
            raise LookupError(f"expected KEY=VALUE, got {field!r}")
        parsed: object = {"true": True, "false": False}.get(value, value)
        if key.endswith("[]"):
            existing = body.setdefault(key[:-2], [])
            assert isinstance(existing, list)
            existing.append(parsed)
        else:
            body[key] = parsed
    return body


async def _allowed(s: AsyncSession, ctx: Context, p: Principal, case: Case) -> list[Allowed]:
    detail = await case_detail(s, case.number)
    assert detail is not None
    now = ctx.clock.now()
    return await allowed_on(s, p.caller, detail, now, clocks=ctx.clocks_at(now))


async def _refuse_unless_allowed(s: AsyncSession, ctx: Context, p: Principal, case: Case,
                                 action: str, target: str | int) -> None:
    """Refuse, with the workflow's reason, what ``forwarder.allowed`` says is not allowed now
    (before the body is looked at: the action list and the command never disagree)."""
    for entry in await _allowed(s, ctx, p, case):
        if (entry.action, entry.target) == (action, target) and not entry.ok:
            raise WorkflowError(entry.reason, code=entry.code)


async def _act(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    """The API's own action functions, with its role and visibility checks: no back door."""
    body = body_from(args.fields)
    if args.action in CASE_ACTIONS:
        api_action, case_call = CASE_ACTIONS[args.action]
        require_role(p, api_action)
        case = await visible_case(s, p, args.target)
        await _refuse_unless_allowed(s, ctx, p, case, api_action, case.number)
        result = await case_call(s, ctx, case, p, body)
    else:
        api_action, assignment_call = ASSIGNMENT_ACTIONS[args.action]
        require_role(p, api_action)
        row = await visible_assignment(s, p, args.target)
        parent = await s.get(Case, row.case_id)
        assert parent is not None
        await _refuse_unless_allowed(s, ctx, p, parent, api_action, row.id)
        result = await assignment_call(s, ctx, row, p, body)
    await s.flush()
    return json.dumps(result, ensure_ascii=False, indent=1)


async def _actions(s: AsyncSession, ctx: Context, p: Principal, args: argparse.Namespace) -> str:
    """``hotline case actions``: the API's action list, one line each, allowed ones first."""
    case = await visible_case(s, p, args.number)
    entries = sorted(await _allowed(s, ctx, p, case), key=lambda e: not e.ok)
    lines = [f"{'yes' if e.ok else 'no ':<4}{e.action.replace('_', '-'):<20}"
             f"{e.target if isinstance(e.target, str) else '#' + str(e.target):<28}"
             + (", ".join(e.choices) if e.ok else f"{e.code}: {e.reason}") for e in entries]
    return "\n".join(lines)


CASE_HANDLERS: dict[str, Op] = {"accept": _accept, "not-accept": _not_accept, "dispatch": _dispatch,
                                "review": _review, "publish": _publish, "repeats": _repeats,
                                "act": _act, "actions": _actions}
