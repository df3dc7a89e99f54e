"""CLI: ``demo``, ``sync`` and ``models``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from countersign_cli.cliutil import open_workspace, print_json, progress_printer, wire


def demo(p: argparse.ArgumentParser) -> None:
    """``countersign demo``."""
    p.add_argument("--workspace", metavar="DIR", help="where to build it (default: $COUNTERSIGN_WORKSPACE or ./workspace)")
    p.add_argument("--force", action="store_true", help="rebuild even if the demo workspace exists")
    p.set_defaults(func=cmd_demo)


def sync(p: argparse.ArgumentParser) -> None:
    """``countersign sync``."""
    p.add_argument("--account", action="append", metavar="NAME", help="only this account (repeatable)")
    p.add_argument("--full", action="store_true", help="ignore watermarks: full pass that also notices deletions")
    wire(p, cmd_sync, json="print the result as JSON")


def models(p: argparse.ArgumentParser) -> None:
    """``countersign models``."""
    p.add_argument("--environment", action="append", metavar="ENV", help="only this environment (repeatable)")
    p.add_argument("--as-of", metavar="TIMESTAMP",
                   help="the state at this instant (ISO 8601, with or without zone; UTC assumed), from the history")
    wire(p, cmd_models, actor=False)


def history(p: argparse.ArgumentParser) -> None:
    """``countersign history``."""
    p.add_argument("version_id", metavar="VERSION_ID", help="ACCOUNT:MODEL:VERSION as listed by 'countersign models'")
    p.add_argument("--environment", metavar="ENV",
                   help="with --as-of: what this environment held then, who approved it, on what evidence")
    p.add_argument("--as-of", metavar="TIMESTAMP", help="with --environment: the instant (ISO 8601; UTC assumed)")
    wire(p, cmd_history, actor=False)



def why(p: argparse.ArgumentParser) -> None:
    """``countersign why``."""
    p.add_argument("version_id", metavar="VERSION_ID", help="ACCOUNT:MODEL:VERSION as listed by 'countersign models'")
    p.add_argument("--to", metavar="ENV", help="the environment it would go to (default: the next one)")
    wire(p, cmd_why)


def catalog(p: argparse.ArgumentParser) -> None:
    """``countersign catalog copy``."""
    ops = p.add_subparsers(dest="catalog_command", required=True)
    c = ops.add_parser("copy", help="copy catalog and ledger into an empty PostgreSQL database, then verify")
    c.add_argument("--to", required=True, metavar="URL",
                   help="postgresql://user@host:port/db (password from PGPASSWORD or ~/.pgpass, never in the URL)")
    wire(c, cmd_catalog_copy, json=None)


def cmd_why(args: argparse.Namespace) -> int:
    from governance.usecases.why import why_blocked

    answer = why_blocked(open_workspace(args), args.version_id, args.to)
    if args.json:
        print_json(answer.as_dict())
    else:
        print("\n".join(answer.lines()))
    return 1 if answer.blocked else 0  # blocked is a verdict, as a failed check is


def cmd_catalog_copy(args: argparse.Namespace) -> int:
    from core.errors import LedgerTampered
    from governance import ledger
    from governance.catalog import Catalog
    from governance.catalog.transfer import copy_catalog

    opened = open_workspace(args)
    if opened.catalog.backend != "duckdb":
        print("this workspace's catalog is already in PostgreSQL ([catalog] url)", file=sys.stderr)
        return 2
    target = Catalog.of(opened.workspace, url=args.to)  # PgBackend refuses a password in it
    report = copy_catalog(opened.catalog, target)
    for table, n in sorted(report.rows.items()):
        print(f"{table:24} {n:>9} rows")
    verified = ledger.verify_unchecked(opened.workspace, target)
    if not verified.ok:
        raise LedgerTampered(f"the ledger copied to PostgreSQL does not verify: {verified.summary()}")
    print(f"copied {report.total} rows; the ledger verifies there ({verified.length} entries).")
    print(f'Next: set [catalog] url = "{args.to}" in {opened.workspace.config_path}')
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from governance.config import resolve_workspace
    from governance.demo import build_demo

    ws = resolve_workspace(args.workspace, os.environ)
    build_demo(Path(ws.root), progress=progress_printer(), force=args.force)
    print(f"demo workspace ready: {ws.root}")
    print(f"open it with: countersign serve --workspace {ws.root}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from governance.usecases.accounts import SyncCommand, sync

    report = sync(open_workspace(args), SyncCommand(tuple(args.account or ()), args.full),
                  progress_printer(not args.json))
    if args.json:
        print_json(
            {
                "ok": report.ok,
                "accounts": [
                    {
                        "account": r.account, "status": r.status, "error": r.error, "issues": list(r.issues),
                        "calls": r.calls, "throttled": r.throttled, "seconds": round(r.seconds, 3),
                        "full": r.full, "scheduled_full": r.scheduled_full,
                        "counts": None if r.counts is None else {
                            "added": r.counts.added, "updated": r.counts.updated,
                            "unchanged": r.counts.unchanged, "deleted": r.counts.deleted,
                            "versions_held": r.counts.held,
                        },
                    }
                    for r in report.results
                ],
            }
        )
    else:
        for r in report.results:
            if r.counts is None:
                print(f"{r.account:<20} FAILED  {r.error}")
                continue
            c = r.counts
            print(f"{r.account:<20} {r.status:<8} {c.held} version(s) held; this {'full' if r.full else 'incremental'} "
                  f"sync: {c.added} new, {c.updated} changed, {c.deleted} gone  ({r.kind}, {r.calls} calls, "
                  f"{r.seconds:.2f} s)")
            for issue in r.issues:
                print(f"    ! {issue}")
    if not report.ok:
        print("some accounts failed to sync; their previous state is kept", file=sys.stderr)
        return 1
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from governance.usecases.inventory import list_models

    as_of = None
    if args.as_of:
        from governance.history import parse_instant

        as_of = parse_instant(args.as_of)
    listing = list_models(open_workspace(args), environments=tuple(args.environment or ()), as_of=as_of)
    rows, flags, gaps = listing.rows, listing.flags, list(listing.gaps)
    coverage = listing.coverage
    if args.json:
        versions = [
            {
                "version_id": row["version_id"], "model": row["model"], "version": int(row["version"]),
                "environment": row["environment"], "labels": list(row["labels"]),
                "serving_labels": list(flag.serving_labels), "account": row["account"],
                "approval_status": row["approval_status"], "risk_tier": row["risk_tier"], "owner": row["owner"],
                "created_by": row["created_by"],
                "created_at": None if row["created_at"] is None else row["created_at"].isoformat(),
                "deployed_on": row["deployed_on"], "in_use": flag.in_use,
                "unapproved_deployment": flag.registry_unapproved,
                "flag": flag.flag.removeprefix("⚠ ") or None, "flag_reason": flag.reason or None,
                "source_version_id": row["source_version_id"],
                **({"change_source": row.get("change_source"), "confidence": row.get("confidence"),
                    "changed_by": row.get("changed_by"), "since": _iso(row.get("valid_from"))} if as_of else {}),
            }
            for row, flag in zip(rows, flags, strict=True)
        ]
        print_json(
            {
                "models": [
                    {"name": m["name"], "owner": m["owner"], "risk_tier": m["risk_tier"], "versions": int(m["versions"]),
                     "environments": m["environments"].split(", ") if m["environments"] else []}
                    for m in listing.models
                ],
                "versions": versions,
                **({"as_of": as_of.isoformat(), "gaps": gaps,
                    "coverage": [n.as_dict() for n in coverage]} if as_of else {}),
            }
        )
        return 0
    if as_of:
        print(f"as of {as_of.isoformat()} UTC")
        for gap in gaps:
            print(f"  ! not observed then (gap): {gap}")
        for note in coverage:
            print(f"  ! {note.message}")
    if not rows:
        print("no versions at that instant" if as_of else "no versions in the catalog yet: run 'countersign sync'")
        return 0
    print(f"{'VERSION':<36} {'ENV':<8} {'STATUS':<22} {'DEPLOYED ON':<26} FLAG")
    for row, flag in zip(rows, flags, strict=True):
        # an endpoint, else the label that is the deployment; the same flags as the Inventory page
        deployed = row["deployed_on"] or ", ".join(flag.serving_labels)
        print(f"{row['version_id']:<36} {row['environment']:<8} {row['approval_status']:<22} "
              f"{deployed:<26} {flag.flag.removeprefix('⚠ ').upper()}")
    for row, flag in zip(rows, flags, strict=True):  # why, for people; stdout stays the table scripts read
        if flag.flagged:
            print(f"! {row['version_id']} {flag.reason}", file=sys.stderr)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from core.errors import InputError
    from governance.history import parse_instant
    from governance.usecases.model import environment_history, version_history

    opened = open_workspace(args)
    if bool(args.environment) != bool(args.as_of):
        raise InputError("--environment and --as-of go together (what an environment held at an instant)")
    if args.environment:
        state = environment_history(opened, args.environment, parse_instant(args.as_of))
        doc = {"version_id": args.version_id, **state.as_dict()}
        if args.json:
            print_json(doc)
            return 0
        print(f"{state.environment} as of {state.instant.isoformat()} UTC")
        for gap in state.gaps:
            print(f"  ! not observed then (gap): {gap}")
        for v in state.versions:
            mark = "*" if v.version_id == args.version_id else " "
            serving = v.deployed_on or ", ".join(f"label {x}" for x in v.serving_labels) or "-"
            print(f"{mark} {v.version_id:<36} {v.approval_status:<22} {serving:<24} since "
                  f"{v.valid_from.isoformat()} ({v.source or v.time_source})")
            if v.flag:
                print(f"      ! {v.flag_reason}")
            for a in v.approvals:
                gates = ", ".join(f"{g}={s}" for g, s in sorted(a.gates.items()))
                print(f"      approved by {a.actor} at {a.decided_at.isoformat()} [{a.request_id}] gates: {gates}")
        return 0
    doc = version_history(opened, args.version_id)
    if args.json:
        print_json(doc)
        return 0
    print(f"history of {doc['version_id']}")
    for s in doc["states"]:
        labels = ",".join(s["labels"])
        print(f"  {s['valid_from']} → {s['valid_to'] or 'now':<26} {s['environment']:<8} {s['approval_status']:<22} "
              f"{labels:<12} ({s['source']}; sync {s['sync_id']}"
              + (f"; request {s['request_id']}" if s["request_id"] else "") + ")")
    for d in doc["deployments"]:
        print(f"  deployed {d['endpoint']}/{d['variant']} w={d['weight']} {d['valid_from']} → {d['valid_to'] or 'now'}")
    for a in doc["approvals"]:
        print(f"  approved by {a['actor']} at {a['decided_at']} ({a['request_id']}, {a['from_env']}→{a['to_env']})")
    for g in doc["gaps"]:
        where = g["version_id"] or g["account"]
        print(f"  ! gap in {where}: {g['from']} → {g['to'] or 'now'} ({g['reason']}"
              + (f": {g['detail']}" if g["detail"] else "") + ")")
    return 0


def _iso(value: object) -> str | None:
    """A date-time as ISO text; None (or pandas' NaT) as None."""
    if value is None or value != value:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
