"""The ``autointerp`` command line: the top-level parser, the table of every subcommand's
handler (built once, from the command modules) and ``main``, which maps errors to exit
codes (2: a user mistake, 130: interrupted)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from autointerp import __version__
from autointerp.cli import compare_commands, interop_commands, run_commands, service_commands
from autointerp.errors import AutointerpError

__all__ = ["COMMANDS", "build_parser", "main"]

EPILOG = "Run 'autointerp <command> --help' for the options of each command."

# The command modules, in the order their commands appear in --help.
_GROUPS = (run_commands, service_commands, compare_commands, interop_commands)

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    name: handler for group in _GROUPS for name, handler in group.COMMANDS.items()
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autointerp",
        description="Explain and score the latents of sparse autoencoders.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"autointerp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug messages.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for group in _GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except AutointerpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
