"""CLI: ``retention list`` and ``retention purge`` (keep periods per artefact; see docs/lifecycle.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from countersign_cli.cliutil import open_workspace, print_json, wire


def register(sub: argparse._SubParsersAction) -> None:
    """Add the retention commands."""
    top = sub.add_parser("retention", help="keep periods per artefact ([policy.retention]); purge what has expired")
    steps = top.add_subparsers(dest="step", metavar="STEP", required=True)
    p = steps.add_parser("list", help="files of exports/, checkpoints/ and cache/ and until when each is kept")
    wire(p, cmd_list)
    p = steps.add_parser("purge", help="delete files no longer under retention (admin; all or nothing, recorded)")
    p.add_argument("paths", nargs="+", metavar="FILE")
    wire(p, cmd_purge)


def cmd_list(args: argparse.Namespace) -> int:
    from governance.usecases.retention import open_retention

    view = open_retention(open_workspace(args))
    if args.json:
        print_json({"files": [f.as_dict() for f in view.files]})
        return 0
    for f in view.files:
        print(f"{f.kind:<14} keep until {f.keep_until}  ({f.source:<6}) {view.relative(f)}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from governance.usecases.retention import PurgeCommand, purge

    done = purge(open_workspace(args), PurgeCommand(tuple(Path(p) for p in args.paths)))
    if args.json:
        print_json({"files": [f.as_dict() for f in done.files], "ledger_hash": done.ledger_hash})
    else:
        print(f"purged {len(done.files)} file(s); recorded in the ledger")
    return 0
