"""CLI: ``due``, ``review-periodic``, ``monitor`` and ``notify`` (ongoing oversight; see docs/oversight.md)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from countersign_cli.cliutil import open_workspace, parse_when, print_json, progress_printer, wire

if TYPE_CHECKING:
    from governance.binding import Finding



# governance.oversight's OUTCOMES and SORTS, spelled here so `--help` imports no catalog (a test keeps them equal)
OUTCOMES = ("continue", "restrict", "retire")
SORTS = ("due", "tier")


def due(p: argparse.ArgumentParser) -> None:
    """``countersign due``."""
    p.add_argument("--all", action="store_true", help="every version under oversight, not only those due")
    p.add_argument("--sort", choices=SORTS, default="due", help="by due date (default) or by risk tier")
    p.add_argument("--as-of", metavar="DATE", help="judge against this day instead of today")
    wire(p, cmd_due, actor=False)


def review_periodic(p: argparse.ArgumentParser) -> None:
    """``countersign review-periodic``."""
    p.add_argument("--version", required=True, metavar="ID", help="version id ACCOUNT:MODEL:N")
    p.add_argument("--outcome", required=True, choices=OUTCOMES, help="continue, restrict or retire")
    p.add_argument("--comment", required=True, help="what was checked and concluded")
    p.add_argument("--no-refresh", action="store_true", help="cite stored evidence instead of recomputing it")
    wire(p, cmd_review_periodic)


def monitor(p: argparse.ArgumentParser) -> None:
    """``countersign monitor``."""
    p.add_argument("--all", action="store_true", help="every version under oversight")
    wire(p, cmd_monitor)


def notify(p: argparse.ArgumentParser) -> None:
    """``countersign notify``."""
    p.add_argument("--dry-run", action="store_true", help="list what would be sent; send and record nothing")
    p.add_argument("--monitor", action="store_true", help="run 'countersign monitor' first")
    p.add_argument("--as-of", metavar="DATE", help="judge against this day instead of now")
    wire(p, cmd_notify)


def cmd_due(args: argparse.Namespace) -> int:
    from governance.usecases.oversight import due

    plan = due(open_workspace(args), now=parse_when(args.as_of, "--as-of"), sort=args.sort, only_attention=not args.all)
    if args.json:
        print_json({"as_of": plan.as_of, "environments": list(plan.environments),
                    "items": [i.as_dict() for i in plan.items]})
        return 0
    if not plan.items:
        print(f"nothing due as of {plan.as_of:%Y-%m-%d} (versions in use in {', '.join(plan.environments)})")
        return 0
    for t in plan.triggered:  # re-validations a breach or cumulative change started: due now, apart from the calendar
        print(f"{'triggered':<10} due now    {t.version_id:<34} since {t.triggered_at:%Y-%m-%d}  {t.reason}")
    for i in plan.items:
        due = f"{i.due_at:%Y-%m-%d}" if i.due_at else "—"
        last = f"{i.last_review_at:%Y-%m-%d} ({i.last_outcome})" if i.last_review_at else "never reviewed"
        if i.first_review_now:
            due, last = "now", "never reviewed, never signed off"
        print(f"{i.status:<10} due {due:<10} {i.version_id:<34} tier {i.tier:<8} last {last}")
    return 0


def cmd_review_periodic(args: argparse.Namespace) -> int:
    from governance.usecases.oversight import PeriodicReviewCommand, record_review

    review = record_review(open_workspace(args), PeriodicReviewCommand(args.version, args.outcome, args.comment,
                                                                       refresh=not args.no_refresh),
                           progress_printer(not args.json))
    if args.json:
        print_json(review.as_dict())
    else:
        print(f"{review.review_id}  {review.version_id}  {review.outcome} by {review.reviewer} "
              f"on {review.reviewed_at:%Y-%m-%d}")
        for kind, ev in review.evidence.items():
            print(f"  {kind}: {ev.get('evidence_id') or ev.get('status')}  {ev.get('message') or ''}")
        for g in review.gates:
            print(f"  gate {g['gate']}: {g['status']} — {g['message']}")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from governance.usecases.oversight import monitor

    report = monitor(open_workspace(args), everything=args.all, progress=progress_printer(not args.json))
    # what serves must be what Countersign approved: a finding fails the run
    results, findings, failing = report.results, report.findings, report.failing
    if args.json:
        print_json({"monitoring": [r.as_dict() for r in results], "unapproved": [f.as_dict() for f in findings]})
        return 1 if failing else 0
    if not results:
        print("no monitoring due")
    for r in results:
        kinds = ", ".join(f"{k} {v['status']}" for k, v in r.items.items())
        print(f"{r.version_id}: {kinds}" + ("" if r.failing else "; no breach"))
        for b in r.breaches:  # version, gate, columns, figure: what failed, on what
            figure = f"{b['figure']:.3g}" if isinstance(b.get("figure"), int | float) else "—"
            limit = f" (limit {b['threshold']:g})" if isinstance(b.get("threshold"), int | float) else ""
            print(f"  BREACH {r.version_id} {b['gate']}: {figure}{limit}; columns: {', '.join(b['columns']) or '—'}"
                  f" — {b['message']}")
        if r.change is not None:
            print(f"  cumulative change: {r.change.describe()}")
        for t in r.triggered:
            print(f"  re-validation due now: triggered review {t.trigger_id} ({t.kind}"
                  + (f", {t.gate}" if t.gate else "") + ")")
    _print_findings(findings)
    return 1 if failing else 0


def _print_findings(findings: Sequence[Finding]) -> None:
    """The binding check's findings, one line each (on stdout: they are the command's verdict)."""
    if findings:
        print(f"UNAPPROVED DEPLOYMENTS {len(findings)}:")
    for f in findings:
        print(f"  ! {f.sentence}")


def cmd_notify(args: argparse.Namespace) -> int:
    from governance.usecases.oversight import notify

    # secrets enter here, at the edge, from the variables countersign.toml names
    report, findings = notify(open_workspace(args), os.environ, dry_run=args.dry_run, monitor_first=args.monitor,
                              now=parse_when(args.as_of, "--as-of"), progress=progress_printer(not args.json))
    if args.json:
        print_json(report.as_dict())
    else:
        counts = report.as_dict()["counts"]
        print(f"{len(report.events)} event(s): {counts['sent']} sent, {counts['skipped']} already sent, "
              f"{counts['failed']} failed" + (f", {counts['planned']} planned (dry run)" if args.dry_run else ""))
        for d in report.deliveries:
            if d.status != "skipped":
                print(f"  {d.status:<8} {d.channel:<7} {d.recipient:<36} {d.title}"
                      + (f"  ({d.error})" if d.error else ""))
        if report.unrouted:
            print(f"  {len(report.unrouted)} event(s) had no channel or recipient: configure [notify] "
                  "(docs/oversight.md)")
        _print_findings(findings)
    # a version serving unapproved (or not as approved) is a failed check, announced or not
    return 0 if report.ok and not report.unapproved else 1
