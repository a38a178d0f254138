"""``hotline open311 key add|list|revoke``: the Open311 channel's API clients from the shell.

``add CLIENT`` prints the new key once (only its SHA-256 is stored, so it
cannot be shown again: a lost key is revoked and a new client added).
The admin desk offers the same three operations (``desks/staff/pages_admin.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from config.settings import Settings
from contract.clock import SystemClock
from registrar.db import create_engine, make_sessionmaker
from registrar.open311_clients import ClientError, add_client, list_clients, revoke_client


def register_open311(sub: Any) -> None:
    """Add ``open311 key add|list|revoke`` to the ``hotline`` parser."""
    open311 = sub.add_parser("open311", help="the Open311 API's client keys")
    keys = open311.add_subparsers(dest="open311_command", required=True).add_parser(
        "key", help="API keys of partner apps").add_subparsers(dest="key_command", required=True)
    keys.add_parser("add", help="add a client and print its new key (shown once)").add_argument(
        "client", help="the client's name, e.g. fuzhou-app")
    keys.add_parser("list", help="list clients (names and dates; keys are never shown)")
    keys.add_parser("revoke", help="stop a client's key working at once").add_argument("client")


async def _run(args: argparse.Namespace, settings: Settings) -> str:
    engine = create_engine(settings.database_url)
    now = SystemClock(settings.tz).now()
    try:
        async with make_sessionmaker(engine).begin() as session:
            if args.key_command == "add":
                return await add_client(session, args.client, now=now)
            if args.key_command == "revoke":
                await revoke_client(session, args.client, now=now)
                return f"hotline: the key of {args.client} is revoked"
            rows = await list_clients(session)
    finally:
        await engine.dispose()
    lines = [f"{r.name:<32} added {r.created_at.astimezone(settings.tz):%Y-%m-%d %H:%M}"
             + (f"  revoked {r.revoked_at.astimezone(settings.tz):%Y-%m-%d %H:%M}"
                if r.revoked_at else "") for r in rows]
    return "\n".join(lines) or "hotline: no Open311 clients"


def run_open311(args: argparse.Namespace, settings: Settings) -> int:
    """Run one key command; 1 with the reason on stderr when refused."""
    try:
        print(asyncio.run(_run(args, settings)))
    except ClientError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    return 0
