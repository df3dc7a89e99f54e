"""The ``countersign`` command line: a router over the command table (:mod:`countersign_cli.commands`).

Exit status: 0 success, 1 a finding that fails (tampered ledger, invalid signature), 2 bad input with a
one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from core.credentials import redact
from core.errors import CountersignError
from core.registry import resolve
from countersign_cli.cliutil import DeferredParser, add_arguments_later, command_scope
from countersign_cli.commands import COMMANDS
from governance import __version__


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser over the command table; a command's arguments are declared when it is used.

    When ``argv`` names a known command first, only that command's parser is made: the others would only cost
    time (an argparse parser is not free to build), and nothing but that command can be parsed.
    """
    parser = argparse.ArgumentParser(
        prog="countersign", description="Model governance: inventory, evidence, sign-off, ledger, signed reports."
    )
    parser.add_argument("--version", action="version", version=f"countersign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=DeferredParser)
    first = next(iter(argv), None) if argv else None
    names = (first,) if first in COMMANDS else COMMANDS.names()
    for name in names:
        command = COMMANDS[name]
        add_arguments_later(sub.add_parser(name, help=command.help),
                            lambda p, c=command, n=name: resolve(c.arguments, what=f"command {n!r}")(p))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args, extra = parser.parse_known_args(argv)
    except CountersignError as exc:  # a registered command whose module cannot be loaded
        print(f"countersign: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    # only a command that passes flags on (``serve`` → Streamlit) accepts ones it does not know
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if "--" in extra:
        extra.remove("--")
    args.extra = extra
    scope = contextlib.ExitStack()
    token = command_scope.set(scope)
    try:
        with scope:
            return int(args.func(args) or 0)
    except CountersignError as exc:
        print(f"countersign {args.command}: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``countersign models | head``): stop quietly, as Unix tools do, and keep Python
        # from reporting the pipe again when it flushes stdout at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the signal stopped
    finally:
        command_scope.reset(token)
