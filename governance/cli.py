"""The ``countersign`` command line. Each area registers its sub-commands from its own module.

Exit status: 0 success, 1 a finding that fails (tampered ledger, invalid signature), 2 bad input with a
one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from core.credentials import redact
from core.errors import CountersignError
from governance import __version__
from governance.cliutil import DeferredParser, command_scope

# Modules with a ``register(subparsers)`` function, in help order. Built-ins are listed like any other.
COMMAND_MODULES: tuple[str, ...] = (
    "governance.commands.catalog",
    "governance.commands.analytics",
    "governance.commands.signoff",
    "governance.commands.reports",
    "governance.commands.oversight",
    "governance.commands.compare",
    "governance.commands.fallback",
    "governance.commands.incidents",
    "governance.commands.cards",
    "governance.commands.retention",
    "governance.commands.serve",
    "governance.commands.events",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="countersign", description="Model governance: inventory, evidence, sign-off, ledger, signed reports."
    )
    parser.add_argument("--version", action="version", version=f"countersign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=DeferredParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
