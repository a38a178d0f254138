"""The ``hotline`` command: serve, migrate, seed the demo, inspect cases.

Operators use it on the server; `make run` uses it to set up a fresh clone.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from channels import ROLES, SETTINGS_SECTIONS
from channels.sip.settings import SipSettings
from config.organisation import load_organisation
from config.settings import ConfigError, Settings, load_settings
from contract.clock import SystemClock
from desks.access.accounts import seed_demo_accounts
from intake.cli_open311 import register_open311, run_open311
from intake.cli_ops import handles, register_ops, run_ops
from intake.wiring import enabled_channels
from registrar.db import create_engine, make_sessionmaker
from registrar.migrate import upgrade
from registrar.queries import case_detail, format_case_detail
from registrar.roster import sync_organisation


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="12345 citizen service hotline")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (web and every configured channel)")
    serve.add_argument("--host", help="override web.host")
    serve.add_argument("--port", type=int, help="override web.port")
    serve.add_argument("--only", action="append", choices=ROLES,
                       help="run only these parts (repeatable); default: all")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="override sip.workers: phone-line worker processes (4 calls each)")
    sip = sub.add_parser("sip", help="the phone line")
    kamailio = sip.add_subparsers(dest="sip_command", required=True).add_parser(
        "kamailio-config", help="write kamailio.cfg and dispatcher.list for the [sip] worker pool")
    kamailio.add_argument("directory", nargs="?", default="var/kamailio")
    db = sub.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="db_command", required=True).add_parser(
        "upgrade", help="apply migrations up to the newest")
    demo = sub.add_parser("demo", help="demo data")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    demo_seed = demo_sub.add_parser("seed", help="load the organisation's new units (and demo "
                                    "accounts); never undoes roster edits made on the admin desk")
    demo_seed.add_argument("--months", type=int, default=0,
                           help="also generate this many months of history, ending now, through "
                           "the real workflow (only into a database without cases)")
    demo_seed.add_argument("--cases", type=int, help="items in the history (default: 12 a day)")
    org = sub.add_parser("organisation", help="the organisation file")
    org.add_subparsers(dest="org_command", required=True).add_parser(
        "sync", help="apply the organisation file to every unit and roster (closes entries of "
        "people no longer listed, keeping history)")
    sms = demo_sub.add_parser("sms", help="text the demo modem (Gammu's dummy phone) as a citizen")
    sms.add_argument("sender", help="the citizen's phone number, e.g. 13805912345")
    sms.add_argument("text")
    case = sub.add_parser("case", help="inspect cases")
    case_commands = case.add_subparsers(dest="case_command", required=True)
    show = case_commands.add_parser("show", help="print a case: what was stored, events, notices")
    show.add_argument("number")
    register_ops(sub, case_commands)
    register_open311(sub)
    sub.add_parser("sweep", help="run the deadline sweeper once (late reading, 逾期办理, warnings …)")
    calendar = sub.add_parser("calendar", help="the working-day calendar")
    calendar.add_subparsers(dest="calendar_command", required=True).add_parser(
        "check", help="which years' holidays are confirmed; exits 1 if one is not")
    return parser


async def _seed(settings: Settings, *, full: bool = False) -> str:
    organisation = load_organisation(settings.organisation_path)
    engine = create_engine(settings.database_url)
    try:
        now = SystemClock(settings.tz).now()
        async with make_sessionmaker(engine).begin() as session:
            report = await sync_organisation(session, organisation, now=now, only_new=not full)
            accounts = await seed_demo_accounts(session, now)
    finally:
        await engine.dispose()
    lines = [f"organisation {settings.organisation_path.name}: {report.units_added} units added, "
             f"{report.units_updated} updated; roster {report.roster_opened} opened, "
             f"{report.roster_closed} closed",
             "demo accounts (DEMO ONLY, change or remove before real use):"]
    lines += [f"  {username:<20} {password:<32} {role:<16} {unit or '-'}"
              for username, password, role, unit in accounts]
    return "\n".join(lines)


async def _sweep(settings: Settings) -> object:
    from forwarder.calendar import WorkingCalendar
    from forwarder.due import CalendarDuePolicy
    from forwarder.rules import load_revisions
    from forwarder.sweeper import Sweeper
    from forwarder.workflow_base import Context

    calendar = WorkingCalendar.load(zone=settings.tz, site_file=settings.calendar_path)
    engine = create_engine(settings.database_url)
    try:
        ctx = Context(clock=SystemClock(settings.tz), due=CalendarDuePolicy(calendar),
                      sms_channel=settings.worker.sms_channel,
                      voice_channel=settings.worker.voice_channel,
                      revisions=load_revisions(settings.regulation_path))
        return await Sweeper(make_sessionmaker(engine), ctx).run_once()
    finally:
        await engine.dispose()


async def _show(settings: Settings, number: str) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            detail = await case_detail(session, number.strip())
            return None if detail is None else format_case_detail(detail, tz=settings.tz)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP line
    try:
        settings = load_settings(sections=SETTINGS_SECTIONS)
    except ConfigError as exc:
        print(f"hotline: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, settings)
    except ConfigError as exc:
        # A file read by the command itself (organisation, calendar): the message names the
        # file, the unit and the key; a traceback would hide it.
        print(f"hotline: configuration error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run the parsed command with loaded settings; returns the exit status."""
    if args.command == "serve":
        from intake import serving
        from intake.app import create_app

        if args.workers is not None:
            sections = dict(settings.channel_sections)
            # Validated like the file's value (1–64 workers, ports in range), not copied blindly.
            sip = settings.channel("sip", SipSettings).model_dump()
            try:
                sections["sip"] = SipSettings.model_validate({**sip, "workers": args.workers})
            except ValidationError as exc:
                raise ConfigError(f"--workers {args.workers}: {exc.errors()[0]['msg']}") from exc
            settings = settings.model_copy(update={"channel_sections": sections})
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        if overrides:
            settings = settings.model_copy(
                update={"web": settings.web.model_copy(update=overrides)})
        roles = frozenset(args.only) if args.only else frozenset(ROLES)
        print(f"hotline: serving on http://{settings.web.host}:{settings.web.port}/ "
              f"({', '.join(sorted(roles))}); channels: "
              f"{', '.join(spec.name for spec, _ in enabled_channels(settings))}", flush=True)
        serving.serve(create_app(settings, roles=roles), settings.web)
        return 0
    if args.command == "sip":
        from channels.sip.kamailio import write

        sip_settings = settings.channel("sip", SipSettings)
        cfg, listing = write(sip_settings, Path(args.directory))
        print(f"hotline: wrote {cfg} and {listing}: {sip_settings.workers} worker(s) behind "
              f"udp:{sip_settings.host}:{sip_settings.kamailio_port}")
        return 0
    if args.command == "db":
        upgrade(settings.database_url)
        print("hotline: database is at the newest schema")
        return 0
    if args.command == "demo" and args.demo_command == "sms":
        from channels.sms_gammu import write_incoming_sms
        from channels.sms_gammu.settings import GammuSettings

        device = settings.channel("gammu", GammuSettings).device
        paths = write_incoming_sms(device, args.sender, args.text)
        print(f"hotline: SMS from {args.sender} is waiting in the demo modem "
              f"({len(paths)} part(s) in {device})")
        return 0
    if args.command == "demo":
        print("hotline: " + asyncio.run(_seed(settings)))
        if args.months > 0:
            from intake.cli_demo import seed_history

            print("hotline: " + asyncio.run(seed_history(settings, months=args.months,
                                                         cases=args.cases)), flush=True)
        return 0
    if args.command == "organisation":
        print("hotline: " + asyncio.run(_seed(settings, full=True)))
        return 0
    if handles(args):
        return run_ops(args, settings)
    if args.command == "open311":
        return run_open311(args, settings)
    if args.command == "case":
        output = asyncio.run(_show(settings, args.number))
        if output is None:
            print(f"hotline: no case {args.number}", file=sys.stderr)
            return 1
        print(output)
        return 0
    if args.command == "sweep":
        print(f"hotline: {asyncio.run(_sweep(settings))}")
        return 0
    if args.command == "calendar":
        from forwarder.calendar import WorkingCalendar
        from forwarder.calendar_check import calendar_check, unconfirmed_years

        cal = WorkingCalendar.load(zone=settings.tz, site_file=settings.calendar_path)
        today = SystemClock(settings.tz).now().date()
        print("\n".join(calendar_check(cal, today)))
        return 1 if unconfirmed_years(cal, today) else 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
