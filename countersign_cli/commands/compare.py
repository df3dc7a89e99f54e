"""CLI: ``diff`` (environment consistency of two versions), ``runs compare`` and ``costs``."""

from __future__ import annotations

import argparse

from countersign_cli.cliutil import open_workspace, parse_when, print_json, wire


def diff(p: argparse.ArgumentParser) -> None:
    """``countersign diff``."""
    p.add_argument("first", metavar="VERSION_ID")
    p.add_argument("second", metavar="VERSION_ID")
    p.add_argument("--all", action="store_true", help="list every property, not only the differences")
    wire(p, cmd_diff, actor=False)


def runs(p: argparse.ArgumentParser) -> None:
    """``countersign runs``."""
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    c = rsub.add_parser("compare", help="params, metrics, inputs and durations of the runs of versions, side by side")
    c.add_argument("versions", metavar="VERSION_ID", nargs="+")
    c.add_argument("--all", action="store_true", help="list every row, not only the differences")
    wire(c, cmd_runs_compare, actor=False)


def costs(p: argparse.ArgumentParser) -> None:
    """``countersign costs``."""
    p.add_argument("--model", metavar="NAME", help="only this model")
    p.add_argument("--as-of", metavar="YYYY-MM-DD[THH:MM]", help="count serving time until then (default: now, UTC)")
    wire(p, cmd_costs, actor=False)


def _cell(value: object, width: int = 34) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_diff(args: argparse.Namespace) -> int:
    from governance.usecases.compare import diff

    result = diff(open_workspace(args), args.first, args.second)
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"{'PROPERTY':<44} {args.first[:34]:<35} {args.second[:34]:<35} STATUS")
        for f in result.facets:
            if not (args.all or f.differs):
                continue
            flag = "DIFFERS" if f.differs and f.critical else "differs (location)" if f.differs else f.status
            print(f"{_cell(f'{f.group}: {f.name}', 43):<44} {_cell(f.values[0]):<35} {_cell(f.values[1]):<35} {flag}")
        print("consistent" if result.consistent else
              f"NOT consistent: {', '.join(f'{f.group}: {f.name}' for f in result.critical_differences)}")
    return 0 if result.consistent else 1


def cmd_runs_compare(args: argparse.Namespace) -> int:
    from governance.usecases.compare import runs

    result = runs(open_workspace(args), args.versions)
    if args.json:
        print_json(result.as_dict())
        return 0
    print(f"{'':<32} " + " ".join(f"{_cell(s.version_id, 30):<31}" for s in result.sides))
    for row in result.rows:
        if not (args.all or row.differs):
            continue
        mark = "*" if row.differs else " "
        print(f"{mark}{_cell(f'{row.group}: {row.name}', 30):<31} " + " ".join(f"{_cell(v, 30):<31}" for v in row.values))
    print(f"{len(result.differences)} of {len(result.rows)} rows differ (marked *)")
    return 0


def cmd_costs(args: argparse.Namespace) -> int:
    from governance.usecases.compare import estimate

    opened = open_workspace(args)
    report = estimate(opened, model=args.model, as_of=parse_when(args.as_of, "--as-of"))
    if args.json:
        print_json(report.as_dict())
        return 0
    cur = report.currency
    print(f"{'VERSION':<40} {'TRAINING':>12} {'SERVING':>12} {'TOTAL':>12}")
    for v in report.versions:
        flag = f"  ({v.gap})" if v.gap else ""
        if v.priced:
            print(f"{v.version_id:<40} {v.training:>12.2f} {v.serving:>12.2f} {v.total:>12.2f}{flag}")
        else:
            print(f"{v.version_id:<40} {'—':>12} {'—':>12} {'—':>12}{flag}")
    print("\nper model:   " + ", ".join(f"{k} {v:,.2f} {cur}" for k, v in report.by_model.items()))
    print("per account: " + ", ".join(f"{k} {v:,.2f} {cur}" for k, v in report.by_account.items()))
    if report.unpriced:
        print(f"unpriced instance types (add them under [costs]): {', '.join(report.unpriced)}")
    print(f"\nprices: {report.price_source}; serving counted until {report.as_of:%Y-%m-%d %H:%M} UTC")
    print(report.caveat)
    return 0
