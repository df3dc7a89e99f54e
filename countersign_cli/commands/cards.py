"""CLI: ``card`` show, edit, write-back (the model card editor; see docs/lifecycle.md)."""

from __future__ import annotations

import argparse

from core.errors import InputError
from countersign_cli.cliutil import open_workspace, print_json, wire


def register(sub: argparse._SubParsersAction) -> None:
    """Add the card commands."""
    top = sub.add_parser("card", help="model cards: show, edit (with history), write back to the registries")
    steps = top.add_subparsers(dest="step", metavar="STEP", required=True)
    p = steps.add_parser("show", help="the card, its history, each registry's card and the fields left empty")
    p.add_argument("model", metavar="MODEL")
    wire(p, cmd_show)
    p = steps.add_parser("edit", help="change card fields (data scientist, ML engineer, risk officer)")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="set a field (repeatable)")
    p.add_argument("--clear", action="append", default=[], metavar="FIELD", help="empty a field (repeatable)")
    p.add_argument("--comment", default="", help="why")
    wire(p, cmd_edit)
    p = steps.add_parser("write-back", help="write Countersign's card to the registries holding the model; a "
                                            "registry change since the edit is a conflict (exit 1), never overwritten")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--account", action="append", default=[], help="only this account (repeatable)")
    wire(p, cmd_write_back)


def _changes(sets: list[str], clears: list[str]) -> dict[str, str]:
    out = {}
    for item in sets:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--set wants FIELD=VALUE, got {item!r}")
        out[name.strip()] = value
    return out | {name.strip(): "" for name in clears}


def cmd_show(args: argparse.Namespace) -> int:
    from governance.usecases.cards import FIELDS, open_card

    view = open_card(open_workspace(args), args.model)
    if args.json:
        print_json(view.as_dict())
        return 0
    print(f"model card of {view.model} ({view.source}; {len(view.history)} edit(s) in Countersign)")
    for spec in FIELDS:
        print(f"  {spec.label:<28} {view.fields.get(spec.name, '—')}")
    for tid, missing in view.missing.items():
        if missing:
            print(f"  ! {tid} needs: {', '.join(missing)}")
    for account, state in view.registries.items():
        what = state.problem or (f"conflicts: {', '.join(state.conflicts)}" if state.conflicts else
                                 f"differs: {', '.join(state.pending)}" if state.pending else "in step")
        print(f"  registry {account}: {what}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from governance.usecases.cards import EditCardCommand, edit_card

    edit = edit_card(open_workspace(args), EditCardCommand(args.model, _changes(args.set, args.clear), args.comment))
    if args.json:
        print_json(edit.as_dict())
    else:
        print(f"{edit.edit_id}: {', '.join(edit.changed)} changed on the card of {edit.model}")
    return 0


def cmd_write_back(args: argparse.Namespace) -> int:
    from governance.usecases.cards import WriteBackCommand, write_back

    report = write_back(open_workspace(args), WriteBackCommand(args.model, tuple(args.account)))
    if args.json:
        print_json([r.as_dict() for r in report.results])
    else:
        for r in report.results:
            print(f"{r.status.upper() if r.status == 'conflict' else r.status} {r.account}"
                  + (f" ({r.target})" if r.target else "") + (f": {r.detail}" if r.detail else ""))
            for c in r.conflicts:
                print(f"  {c.field}: registry has {c.registry!r}; Countersign has {c.countersign!r}")
    return 1 if report.failing else 0
