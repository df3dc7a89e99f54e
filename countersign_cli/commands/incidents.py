"""CLI: ``incident`` record, action, report, close, list (the incident register; see docs/lifecycle.md)."""

from __future__ import annotations

import argparse

from countersign_cli.cliutil import open_workspace, parse_when, print_json, wire


def register(sub: argparse._SubParsersAction) -> None:
    """Add the incident commands."""
    top = sub.add_parser("incident", help="the incident register (EU AI Act Art. 73, PRA SS1/23 escalation)")
    steps = top.add_subparsers(dest="step", metavar="STEP", required=True)
    p = steps.add_parser("record", help="record an incident against a version")
    p.add_argument("--version", required=True, metavar="ID", help="the version it concerns (ACCOUNT:MODEL:N)")
    p.add_argument("--title", required=True, help="what happened, one line")
    p.add_argument("--description", default=None)
    p.add_argument("--impact", required=True, help="who or what was affected, how much")
    p.add_argument("--severity", required=True, help="low, medium, high or critical")
    p.add_argument("--serious", metavar="KIND", default=None,
                   help="a serious incident under EU AI Act Art. 3(49): death, health, critical_infrastructure, "
                        "fundamental_rights, property_environment or widespread_infringement")
    p.add_argument("--occurred", metavar="WHEN", help="when it happened (default: now)")
    p.add_argument("--aware", metavar="WHEN", help="when the firm became aware (default: now); deadlines count from it")
    wire(p, cmd_record)
    for name, what in (("action", "record an action taken"), ("close", "close it with its resolution (risk officer)"),
                       ("report", "record the report a rule asks for (meets its deadline)")):
        p = steps.add_parser(name, help=what)
        p.add_argument("incident_id", metavar="INCIDENT")
        if name == "report":
            p.add_argument("--rule", required=True, help="eu-ai-act-art-73 or pra-ss1-23-escalation")
        p.add_argument("--text", required=True)
        wire(p, cmd_event, step_name=name)
    p = steps.add_parser("list", help="open incidents with their deadlines (--all: closed ones too)")
    p.add_argument("--all", action="store_true")
    p.add_argument("--model", default=None)
    wire(p, cmd_list)


def cmd_record(args: argparse.Namespace) -> int:
    from governance.usecases.incidents import RecordIncidentCommand, record_incident

    inc = record_incident(open_workspace(args), RecordIncidentCommand(
        args.version, args.title, args.impact, args.severity, serious=args.serious is not None,
        serious_kind=args.serious, description=args.description, occurred_at=parse_when(args.occurred, "--occurred"),
        aware_at=parse_when(args.aware, "--aware")))
    if args.json:
        print_json(inc.as_dict())
        return 0
    print(f"{inc.incident_id} recorded on {inc.version_id} ({inc.severity})")
    for d in inc.deadlines:
        print(f"  {d.name}: due {d.due_at:%Y-%m-%d %H:%M}" + ("" if d.applicable else f" (not applicable: {d.note})"))
    return 0


def cmd_event(args: argparse.Namespace) -> int:
    from governance.usecases.incidents import IncidentStepCommand, incident_step

    inc = incident_step(open_workspace(args), IncidentStepCommand(args.incident_id, args.step_name, args.text,
                                                                  getattr(args, "rule", None)))
    if args.json:
        print_json(inc.as_dict())
    else:
        print(f"{inc.incident_id} {inc.status}: {args.step_name} recorded")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from governance.usecases.incidents import IncidentQuery, open_incidents

    reg = open_incidents(open_workspace(args), IncidentQuery(args.model, include_closed=args.all)).register
    if args.json:
        print_json(reg.as_dict())
        return 0
    if not reg.incidents:
        print("no open incidents" if not args.all else "no incidents")
    for i in reg.incidents:
        late = f"  OVERDUE: {', '.join(d.name for d in i.overdue)}" if i.overdue else ""
        print(f"{i.incident_id} {i.status:<6} {i.severity:<8} {i.version_id:<34} {i.title}{late}")
    return 0
