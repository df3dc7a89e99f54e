"""What every CLI command shares: the workspace argument, opening a workspace, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from typing import Any

# Only the standard library at module level: every command imports this module, and `countersign --help` must not
# wait for pandas or DuckDB. What a command needs is imported when it runs.
from governance.context import Context

# A workspace opened for one command: the one request/identity context (``.actor`` is its identity).
Opened = Context


class DeferredParser(argparse.ArgumentParser):
    """A sub-command parser that can add arguments on first use (:func:`add_arguments_later`): a command whose
    options come from a heavy module (choices, defaults) costs nothing until that command runs or shows its help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Callable[[argparse.ArgumentParser], None]] = []

    def _complete(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def add_arguments_later(parser: argparse.ArgumentParser, add: Callable[[argparse.ArgumentParser], None]) -> None:
    """Run ``add(parser)`` when ``parser`` is first used (at once if it is a plain parser)."""
    if isinstance(parser, DeferredParser):
        parser._deferred.append(add)
    else:
        add(parser)


def add_workspace_arg(parser: argparse.ArgumentParser, *, actor: bool = True) -> None:
    """Add ``--workspace`` (and ``--actor``) to a sub-command."""
    parser.add_argument("--workspace", metavar="DIR", help="workspace folder (default: $COUNTERSIGN_WORKSPACE or ./workspace)")
    if actor:
        parser.add_argument(
            "--actor", metavar="EMAIL", default=None,
            help="demo workspace only: act as this persona. Elsewhere the command acts as the operating-system "
                 "user, with the roles [roles] grants to \"os:<user>\"",
        )


def parse_when(text: str | None, flag: str) -> dt.datetime | None:
    """The date or date-time given to ``flag`` (None when not given); anything else is bad input, said in one line."""
    from core.errors import InputError

    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} must be a date YYYY-MM-DD or an ISO date-time, got {text!r}") from None


JSON_HELP = "print one JSON document"


def wire(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int], *, actor: bool = True,
         json: str | None = JSON_HELP, **defaults: Any) -> argparse.ArgumentParser:
    """What every workspace command's parser shares: ``--workspace`` (and ``--actor``), ``--json`` (its help; None:
    the command prints no JSON) and the function that runs it, with ``defaults`` for ``args``."""
    add_workspace_arg(parser, actor=actor)
    if json is not None:
        parser.add_argument("--json", action="store_true", help=json)
    parser.set_defaults(func=run, **defaults)
    return parser


# The command being run: the catalog a command opens stays open between its operations until the command ends
# (or it has been idle for the linger, so a long drift computation still leaves the file to the portal).
command_scope: contextvars.ContextVar[contextlib.ExitStack | None] = contextvars.ContextVar(
    "command_scope", default=None)


def open_workspace(args: argparse.Namespace, *, migrate: bool = True) -> Context:
    """Resolve, validate and open the workspace named by ``args`` (config read once, here at the edge); the command
    acts as the operating-system user (or, on the demo, ``--actor``)."""
    from governance.config import resolve_workspace
    from governance.identity import cli_identity
    from governance.usecases.session import open_workspace as open_ws

    ws = resolve_workspace(getattr(args, "workspace", None), os.environ)
    scope = command_scope.get()
    opened = open_ws(ws, migrate=migrate, hold=scope)
    actor = cli_identity(opened.settings, getattr(args, "actor", None) or os.environ.get("COUNTERSIGN_ACTOR"))
    return Context(opened.workspace, opened.settings, opened.catalog, actor)


def print_json(obj: Any) -> None:
    """Print one JSON document on stdout."""
    from core.canonical import json_default

    json.dump(obj, sys.stdout, indent=2, sort_keys=True, default=json_default, allow_nan=False)
    sys.stdout.write("\n")


def progress_printer(enabled: bool = True):
    """A progress callback drawing a one-line bar on stderr (only on a terminal)."""
    tty = enabled and sys.stderr.isatty()

    def report(message: str, fraction: float) -> None:
        if not tty:
            return
        width = 30
        filled = int(max(0.0, min(1.0, fraction)) * width)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:5.0%} {message[:60]:<60}")
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report
