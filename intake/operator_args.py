"""The ``--as USER`` argument every operator command takes, defined once.

``hotline case …`` and ``hotline findings …`` act as an account (its role, unit
and visibility: the same checks as the desk and the API), so each of their
subcommands is made here with the same required option and help text.
"""

from __future__ import annotations

import argparse

Subparsers = argparse._SubParsersAction  # the type argparse gives no public name


def acting_command(commands: Subparsers[argparse.ArgumentParser], name: str,
                   help_text: str) -> argparse.ArgumentParser:
    """Add subcommand ``name`` to ``commands``, with the required ``--as USERNAME``."""
    parser = commands.add_parser(name, help=help_text)
    parser.add_argument("--as", dest="as_user", required=True, metavar="USERNAME",
                        help="the account acting (its role and unit are used)")
    return parser
