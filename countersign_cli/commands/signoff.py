"""CLI: ``ledger verify|checkpoint``, ``request``, ``approve``, ``reject``, ``cancel``, ``execute``, ``requests``,
``acceptances``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from core.errors import InputError
from countersign_cli.cliutil import open_workspace, parse_when, print_json, wire


def ledger(p: argparse.ArgumentParser) -> None:
    """``countersign ledger``."""
    lsub = p.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    v = lsub.add_parser("verify", help="recompute the hash chain and compare it with the signed checkpoints")
    v.add_argument("--public-key", metavar="PEM", help="trust only checkpoints signed with this Ed25519 public key")
    v.add_argument("--witness", metavar="PATH",
                   help="a copy of checkpoints/head.json kept elsewhere (file or folder; default: [ledger] witness)")
    wire(v, cmd_verify)
    c = lsub.add_parser("checkpoint", help="sign the current head and store it in checkpoints/")
    c.add_argument("--accept-unsealed", action="store_true",
                   help="seal entries newer than the signed head that no Countersign commit sealed (after reviewing "
                        "them): recorded in the ledger with --reason")
    c.add_argument("--reason", metavar="TEXT", help="why the unsealed entries are genuine (with --accept-unsealed)")
    wire(c, cmd_checkpoint)


def request(p: argparse.ArgumentParser) -> None:
    """``countersign request``."""
    p.add_argument("--version", required=True, metavar="ID", help="version id ACCOUNT:MODEL:N")
    p.add_argument("--to", required=True, metavar="ENV", help="target environment")
    p.add_argument("--reason", required=True, help="why this version should be promoted")
    p.add_argument("--target-account", metavar="NAME", help="target account when the environment has several")
    wire(p, cmd_request)


def approve(p: argparse.ArgumentParser) -> None:
    """``countersign approve``."""
    p.add_argument("request_id", metavar="REQUEST")
    p.add_argument("--comment", required=True)
    p.add_argument("--accept-risk", metavar="GATE", action="append", help="accept this failing gate (repeatable)")
    p.add_argument("--justification", help="why the risk is accepted (required with --accept-risk)")
    p.add_argument("--expires", metavar="YYYY-MM-DD", help="when the risk acceptance lapses (required with it)")
    p.add_argument("--follow-up", metavar="YYYY-MM-DD",
                   help="when the evidence the accepted gates lack is due (default: the expiry); overdue after it")
    p.add_argument("--no-execute", action="store_true", help="leave execution to a later 'countersign execute'")
    wire(p, cmd_approve)


def reject(p: argparse.ArgumentParser) -> None:
    """``countersign reject``."""
    p.add_argument("request_id", metavar="REQUEST")
    p.add_argument("--comment", required=True)
    wire(p, cmd_reject)


def cancel(p: argparse.ArgumentParser) -> None:
    """``countersign cancel``."""
    p.add_argument("request_id", metavar="REQUEST")
    p.add_argument("--comment", default="")
    wire(p, cmd_cancel)


def execute(p: argparse.ArgumentParser) -> None:
    """``countersign execute``."""
    p.add_argument("request_id", metavar="REQUEST")
    p.add_argument("--takeover", action="store_true", help="resume a request whose executor died mid-way")
    wire(p, cmd_execute)


def requests(p: argparse.ArgumentParser) -> None:
    """``countersign requests``."""
    p.add_argument("request_id", metavar="REQUEST", nargs="?",
                   help="show this request: gates today, the evidence its last decision saw, what changed since")
    p.add_argument("--status", action="append", metavar="STATUS", help="only this status (repeatable)")
    p.add_argument("--model", metavar="NAME")
    wire(p, cmd_requests, actor=False)


def acceptances(p: argparse.ArgumentParser) -> None:
    """``countersign acceptances``."""
    wire(p, cmd_acceptances, actor=False)


def request_dict(request: Any) -> dict[str, Any]:
    """A JSON-ready rendering of a request and its decisions."""
    out = asdict(request)
    out["approvers"] = list(request.approvers)
    out["approvals_required"] = request.approvals_required
    return out


def _show(request: Any, as_json: bool) -> None:
    if as_json:
        print_json(request_dict(request))
        return
    print(f"{request.request_id}  {request.version_id} → {request.to_env} ({request.target_account})  "
          f"{request.status}" + (f" [{request.execution_state}]" if request.execution_state else ""))
    print(f"  approvals {len(request.approvers)}/{request.approvals_required}: {', '.join(request.approvers) or '-'}")
    if request.skip:
        print(f"  skips environments: {request.payload.get('path') or request.skip} (tier needs "
              f"{request.tier_approvals_required}, +1 for the skip)")
    for d in request.risk_acceptances:
        print(f"  risk accepted by {d.actor} for {', '.join(d.payload.get('gates', []))} until "
              f"{d.expires_at:%Y-%m-%d}: {d.comment}")
    if request.target_version_id:
        print(f"  target version: {request.target_version_id}")
    if request.execution_error:
        print(f"  error: {request.execution_error}")


def cmd_verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from governance.usecases.audit import verify_ledger

    report = verify_ledger(open_workspace(args), public_key=Path(args.public_key) if args.public_key else None,
                           witness=Path(args.witness) if args.witness else None)
    if args.json:
        print_json(report.as_dict())
    else:
        print(report.summary())
        for w in report.warnings:
            print(f"warning: {w}")
    if not report.ok:
        for p in report.problems:
            print(f"countersign ledger verify: {p.message}", file=sys.stderr)
        return 1
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from governance.usecases.audit import sign_checkpoint

    if args.reason and not args.accept_unsealed:
        raise InputError("--reason goes with --accept-unsealed (it explains why unsealed entries are genuine)")
    if args.accept_unsealed and not (args.reason or "").strip():
        raise InputError("--accept-unsealed needs --reason: why the entries newer than the signed head are genuine")
    cp = sign_checkpoint(open_workspace(args), accept_unsealed=args.reason if args.accept_unsealed else None)
    if args.json:
        print_json({"length": cp.length, "head_hash": cp.head_hash, "path": cp.path, "key_id": cp.key_id})
    else:
        print(f"checkpoint of {cp.length} entries (head {cp.head_hash[:16]}) signed with key {cp.key_id}: {cp.path}")
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    from governance.usecases.requests import CreateRequestCommand, create_request

    request = create_request(open_workspace(args),
                             CreateRequestCommand(args.version, args.to, args.reason, args.target_account))
    _show(request, args.json)
    return 0



def cmd_approve(args: argparse.Namespace) -> int:
    from governance.promotion import RiskAcceptance
    from governance.usecases.requests import ApproveCommand, approve

    o = open_workspace(args)
    acceptance = None
    if args.accept_risk:
        if not args.justification or not args.expires:
            raise InputError("--accept-risk needs --justification and --expires")
        acceptance = RiskAcceptance(tuple(args.accept_risk), args.justification, parse_when(args.expires, "--expires"),
                                    follow_up=parse_when(args.follow_up, "--follow-up"))
    elif args.justification or args.expires or args.follow_up:
        raise InputError("--justification, --expires and --follow-up only go with --accept-risk GATE")
    done = approve(o, ApproveCommand(args.request_id, args.comment, acceptance, execute=not args.no_execute))
    _show(done.request, args.json)
    return 1 if done.failed else 0


def cmd_reject(args: argparse.Namespace) -> int:
    from governance.usecases.requests import RejectCommand, reject

    _show(reject(open_workspace(args), RejectCommand(args.request_id, args.comment)).request, args.json)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from governance.usecases.requests import CancelCommand, cancel

    _show(cancel(open_workspace(args), CancelCommand(args.request_id, args.comment)).request, args.json)
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    from governance.usecases.requests import ExecuteCommand, execute

    done = execute(open_workspace(args), ExecuteCommand(args.request_id, args.takeover))
    _show(done.request, args.json)
    return 1 if done.failed else 0


def _show_review(review: Any, as_json: bool) -> None:
    """One request in full: the request, the follow-ups of its risk acceptances, what its newest decision saw
    (labelled) and, apart, what changed since; then the gates today."""
    if as_json:
        print_json(request_dict(review.request) | {
            "snapshot": asdict(review.snapshot) if review.snapshot else None,
            "changes_since_decision": review.changes.lines() if review.changes else [],
            "follow_ups": [asdict(f) for f in review.follow_ups],
            "gates_today": review.checklist.as_dict()["results"]})
        return
    _show(review.request, False)
    for f in review.follow_ups:
        print(f"  follow-up: {f.describe()}")
    if review.snapshot is not None:
        print("  as decided:")
        for line in review.snapshot.lines():
            print(f"    {line}")
        changed = review.changes.lines() if review.changes else []
        print("  changed since the decision:" + ("" if changed else " nothing"))
        for line in changed:
            print(f"    {line}")
    print("  gates today:")
    for r in review.checklist.results:
        print(f"    {r.gate}: {r.status} — {r.message}")


def cmd_requests(args: argparse.Namespace) -> int:
    from governance.usecases.requests import list_requests, open_request

    o = open_workspace(args)
    if args.request_id:
        _show_review(open_request(o, args.request_id).review, args.json)
        return 0
    df = list_requests(o, statuses=tuple(args.status or ()), model=args.model)
    if args.json:
        print_json(df.to_dict(orient="records"))
        return 0
    if df.empty:
        print("no promotion requests")
        return 0
    for r in df.itertuples():
        print(f"{r.request_id}  {r.version_id:<34} → {r.to_env:<8} {r.status:<10} "
              f"{r.approvals}/{r.approvals_required}  by {r.requester}" + (f"  skips {r.skip}" if r.skip else ""))
    return 0


def cmd_acceptances(args: argparse.Namespace) -> int:
    from governance.usecases.acceptances import open_acceptances

    register = open_acceptances(open_workspace(args)).entries
    if args.json:
        print_json([a.to_json() for a in register])
        return 0
    if not register:
        print("no risk acceptances")
        return 0
    for a in register:
        until = f"{a.expires_at:%Y-%m-%d}" if a.expires_at else "-"
        print(f"{until}  {a.state:<13} {a.request_id}  {a.version_id} → {a.to_env}  "
              f"{', '.join(a.gates)}  by {a.accepted_by}: {a.justification}")
    return 0
