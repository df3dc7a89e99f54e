"""CLI: ``fallback MODEL`` (the emergency path) and ``fallback-plan`` (propose, approve, reject, rehearse, review,
list); see docs/lifecycle.md."""

from __future__ import annotations

import argparse

from countersign_cli.cliutil import open_workspace, print_json, wire

# governance.fallback.KINDS, spelled here so `--help` imports no catalog (a test keeps them equal)
KINDS = ("version", "challenger", "switch_off")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the fallback commands."""
    p = sub.add_parser("fallback", help="EMERGENCY: execute the approved fallback of MODEL now (risk officer); a "
                                        "review after the fact is due within the tier's fallback_review_days")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--environment", default=None, help="where (default: the last environment, prod)")
    p.add_argument("--reason", required=True, help="why the model must stop now")
    wire(p, cmd_fallback)

    plan = sub.add_parser("fallback-plan", help="the fallback and kill switch register: propose, approve, "
                                                "reject, rehearse, review, list")
    steps = plan.add_subparsers(dest="step", metavar="STEP", required=True)
    p = steps.add_parser("propose", help="name the fallback of a model in use (ML engineer, risk officer)")
    p.add_argument("--model", required=True)
    p.add_argument("--environment", default=None, help="default: the last environment (prod)")
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--version", metavar="ID", help="the version to fall back to (version, challenger)")
    p.add_argument("--business-process", help="switch_off: the business process that takes over")
    p.add_argument("--reason", required=True)
    wire(p, cmd_propose)
    for name, what in (("approve", "approve a proposed plan (risk officer, not the proposer)"),
                       ("reject", "reject a proposed plan (risk officer)")):
        p = steps.add_parser(name, help=what)
        p.add_argument("plan_id", metavar="PLAN")
        p.add_argument("--comment", required=True)
        wire(p, cmd_decide, decision=name)
    p = steps.add_parser("rehearse", help="dry run: the fallback's bytes and the target registry, recorded")
    p.add_argument("plan_id", metavar="PLAN")
    wire(p, cmd_rehearse)
    p = steps.add_parser("review", help="review an emergency execution after the fact (another risk officer)")
    p.add_argument("event_id", metavar="EXECUTION")
    p.add_argument("--comment", required=True)
    wire(p, cmd_review)
    p = steps.add_parser("list", help="the register: each model in use, its fallback, rehearsals, executions")
    p.add_argument("--model", default=None)
    wire(p, cmd_list)


def cmd_fallback(args: argparse.Namespace) -> int:
    from governance.usecases.fallback import ExecuteFallbackCommand, execute_fallback

    done = execute_fallback(open_workspace(args), ExecuteFallbackCommand(args.model, args.reason, args.environment))
    if args.json:
        print_json(done.as_dict())
        return 0
    print(f"EMERGENCY fallback {done.event_id} executed by {done.actor}: {'; '.join(done.detail.get('actions', []))}")
    print(f"review after the fact due by {done.review_due:%Y-%m-%d} (countersign fallback-plan review {done.event_id})")
    return 0


def cmd_propose(args: argparse.Namespace) -> int:
    from governance.usecases.fallback import ProposeFallbackCommand, propose_fallback

    plan = propose_fallback(open_workspace(args), ProposeFallbackCommand(
        args.model, args.kind, args.reason, args.environment, args.version, args.business_process))
    if args.json:
        print_json(plan.as_dict())
    else:
        print(f"{plan.plan_id} proposed: {plan.describe()}; needs {plan.approvals_required} approval(s)")
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from governance.usecases.fallback import DecidePlanCommand, decide_plan

    plan = decide_plan(open_workspace(args), DecidePlanCommand(args.plan_id, args.decision, args.comment))
    if args.json:
        print_json(plan.as_dict())
    else:
        print(f"{plan.plan_id} {plan.status} ({len(plan.approvers)}/{plan.approvals_required} approvals)")
    return 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    from governance.usecases.fallback import rehearse_fallback

    result = rehearse_fallback(open_workspace(args), args.plan_id)
    if args.json:
        print_json(result.as_dict())
    else:
        for c in result.checks:
            print(f"{'pass' if c.passed else 'FAIL':<5} {c.name}: {c.detail}")
        print(f"rehearsal {result.event_id}: {'passed' if result.passed else 'FAILED'}")
    return 0 if result.passed else 1


def cmd_review(args: argparse.Namespace) -> int:
    from governance.usecases.fallback import ReviewFallbackCommand, review_fallback

    done = review_fallback(open_workspace(args), ReviewFallbackCommand(args.event_id, args.comment))
    if args.json:
        print_json(done.as_dict())
    else:
        print(f"{done.event_id} reviewed by {done.reviewed_by}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from governance.usecases.fallback import open_fallbacks

    reg = open_fallbacks(open_workspace(args), model=args.model)
    if args.json:
        print_json(reg.as_dict())
        return 0
    for m in reg.models:
        plan = m.active.describe() if m.active else "NO APPROVED FALLBACK"
        print(f"{m.model:<24} {m.environment:<8} {', '.join(m.in_use) or '—':<34} {plan}")
        if m.finding:
            print(f"  ! {m.finding}")
    return 0
