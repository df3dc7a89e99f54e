"""CLI: ``backfill`` (history before the first sync) and ``listen`` (registry events as they happen)."""

from __future__ import annotations

import argparse
import sys

from countersign_cli.cliutil import open_workspace, print_json, progress_printer, wire


def backfill(p: argparse.ArgumentParser) -> None:
    """``countersign backfill``."""
    p.add_argument("--account", required=True, metavar="NAME", help="the account to backfill")
    p.add_argument("--since", metavar="DATE", help="read records from this date (ISO 8601; UTC assumed); default: "
                                                   "everything the records hold")
    p.add_argument("--cloudtrail", metavar="s3://BUCKET/PREFIX",
                   help="where the trail delivers its log files (the folder holding AWSLogs/), or a local copy")
    wire(p, cmd_backfill, json="print the result as JSON")


def listen(p: argparse.ArgumentParser) -> None:
    """``countersign listen``."""
    p.add_argument("--address", metavar="HOST", help="listen on this address (default: [listen] address, 127.0.0.1)")
    p.add_argument("--port", type=int, metavar="PORT", help="listen on this port (default: [listen] port, 8765; "
                                                            "0 picks a free one)")
    p.add_argument("--queue-url", metavar="URL", help="the SQS queue EventBridge delivers SageMaker events to "
                                                      "(default: [listen] queue_url)")
    p.add_argument("--no-sync", action="store_true", help="record events only; do not sync the account after them")
    wire(p, cmd_listen, json=None)


def cmd_backfill(args: argparse.Namespace) -> int:
    from governance.history import parse_instant
    from governance.usecases.events import BackfillCommand, backfill

    command = BackfillCommand(args.account, parse_instant(args.since) if args.since else None, args.cloudtrail)
    result = backfill(open_workspace(args), command, progress_printer(not args.json))
    if args.json:
        print_json(result.as_dict())
        return 0
    if not result.changed:
        print(f"{result.account}: nothing new (backfill {result.backfill_id} already holds this reading)")
    else:
        added = {k.split(".")[0]: v for k, v in result.counts.items() if k.endswith(".added")}
        print(f"{result.account}: backfill {result.backfill_id} (ledger entry {result.ledger_seq}): "
              f"{added.get('version_history', 0)} version states, {added.get('deployment_history', 0)} deployment "
              f"states, {added.get('history_gaps', 0)} labelled gaps from {result.objects} files "
              f"({', '.join(result.sources) or 'registry timestamps only'})")
    reach = result.reach.isoformat() if result.reach else "its first sync (only creation times known before)"
    print(f"history of {result.account} now reaches back to {reach}")
    for issue in result.issues:
        print(f"    ! {issue}", file=sys.stderr)
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    import logging
    import os
    import signal
    import threading

    from governance.usecases.events import ListenCommand, listen

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    opened = open_workspace(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    command = ListenCommand(args.address, args.port, args.queue_url, sync_after=not args.no_sync)
    listen(opened, command, os.environ, stop,
           started=lambda url: print(f"countersign listen: {url} (health: {url}/health)", flush=True))
    return 0
