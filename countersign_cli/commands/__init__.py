"""The command table: every ``countersign`` command, in help order; adding one is a module and one line here.

Each entry names the function that declares the command's arguments (``"module:function"``, imported only when that
command runs or shows its help, so ``countersign --help`` imports none of them) and its one-line help. The function
adds the arguments and ``set_defaults(func=run)``; ``run(args)`` opens the workspace (:func:`~countersign_cli.cliutil.
open_workspace`) and calls the same use case the portal's page calls (``governance.usecases``). Plugins add commands
with :func:`register`, exactly as the built-ins below are added.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from core.registry import Registry, resolve
from core.structs import Row

Arguments = Callable[[argparse.ArgumentParser], None]


class Command(Row):
    """One top-level command: where its arguments are declared (a function or ``"module:function"``), and its help."""

    arguments: str | Arguments
    help: str


_C = "countersign_cli.commands"


def legacy(module: str, name: str) -> Arguments:
    """The arguments of command ``name`` as a module's ``register(subparsers)`` declares them (commands written
    before this table): the module is imported only when ``name`` runs or shows its help."""

    def declare(p: argparse.ArgumentParser) -> None:
        class _Only:  # hands out ``p`` for ``name``, a throwaway parser for the module's other commands
            def add_parser(self, n: str, **kw: object) -> argparse.ArgumentParser:
                if n != name:
                    return argparse.ArgumentParser(add_help=False)
                if kw.get("description"):
                    p.description = str(kw["description"])
                return p

        resolve(f"{module}:register", what=f"command {name!r}")(_Only())

    return declare

COMMANDS: Registry[Command] = Registry("command")
for _name, _entry in (
    ("demo", Command(f"{_C}.catalog:demo", "build the demo workspace (idempotent, fixed seed)")),
    ("sync", Command(f"{_C}.catalog:sync", "pull every account's registry into the catalog")),
    ("models", Command(f"{_C}.catalog:models", "list models and versions across accounts")),
    ("history", Command(f"{_C}.catalog:history", "a version's registry history: states, deployments, approvals, gaps")),
    ("why", Command(f"{_C}.catalog:why", "why a version is blocked: each failing gate with its figure and what clears "
                                         "it")),
    ("catalog", Command(f"{_C}.catalog:catalog", "move the catalog: copy a DuckDB workspace into PostgreSQL")),
    ("drift", Command(f"{_C}.analytics:drift", "data drift between a reference and a current file (CSV, Parquet, "
                                               "Arrow)")),
    ("bias", Command(f"{_C}.analytics:bias", "outcome fairness of scored data across protected groups")),
    ("explain", Command(f"{_C}.analytics:explain", "SHAP explanation of a workspace version (stored as evidence)")),
    ("review", Command(f"{_C}.analytics:review", "drift, bias and SHAP evidence of a version")),
    ("ledger", Command(f"{_C}.signoff:ledger", "verify the ledger or sign a checkpoint of it")),
    ("request", Command(f"{_C}.signoff:request", "ask to promote a version into a later environment")),
    ("approve", Command(f"{_C}.signoff:approve", "approve a pending request (four eyes), executing it once approved")),
    ("reject", Command(f"{_C}.signoff:reject", "reject a pending request")),
    ("cancel", Command(f"{_C}.signoff:cancel", "withdraw your own request before it executes")),
    ("execute", Command(f"{_C}.signoff:execute", "execute or retry an approved request through the connectors")),
    ("requests", Command(f"{_C}.signoff:requests", "list promotion requests, or show one with what its decision saw")),
    ("acceptances", Command(f"{_C}.signoff:acceptances", "the register of risk acceptances: who accepted what, until "
                                                         "when")),
    ("report", Command(f"{_C}.reports:report", "build and sign a regulatory PDF report of a version")),
    ("pdf", Command(f"{_C}.reports:pdf", "signed PDF tools")),
    ("pack", Command(f"{_C}.reports:pack", "write the audit pack zip of a version (signed PDF, evidence, catalog, "
                                           "ledger)")),
    ("due", Command(f"{_C}.oversight:due", "versions in use (serving, or holding a registry label) whose periodic "
                                           "review is due, overdue or never done")),
    ("review-periodic", Command(f"{_C}.oversight:review_periodic", "record a periodic review of a version in use "
                                                                  "(risk officer)")),
    ("monitor", Command(f"{_C}.oversight:monitor", "recompute drift and bias of versions in use whose monitoring is "
                                                   "due; a breach starts a re-validation (exit 1)")),
    ("notify", Command(f"{_C}.oversight:notify", "send due notifications by e-mail and webhook (run it from a "
                                                 "scheduler)")),
    ("diff", Command(f"{_C}.compare:diff", "compare the environment of two versions: image, framework, inference, "
                                           "environment variables, artifact sha256, data, model card (exit 1 if they "
                                           "differ)")),
    ("runs", Command(f"{_C}.compare:runs", "training runs of versions")),
    ("costs", Command(f"{_C}.compare:costs", "estimated training and serving cost per version, model and account")),
    ("serve", Command(f"{_C}.serve:serve", "start the portal on a workspace")),
    ("fallback", Command(legacy(f"{_C}.fallback", "fallback"), "EMERGENCY: execute the approved fallback of MODEL now "
                                                                  "(risk officer)")),
    ("fallback-plan", Command(legacy(f"{_C}.fallback", "fallback-plan"), "the fallback and kill switch register")),
    ("incident", Command(legacy(f"{_C}.incidents", "incident"), "the incident register (EU AI Act Art. 73, PRA "
                                                                 "SS1/23 escalation)")),
    ("card", Command(legacy(f"{_C}.cards", "card"), "model cards: show, edit (with history), write back to the "
                                                   "registries")),
    ("retention", Command(legacy(f"{_C}.retention", "retention"), "keep periods per artefact ([policy.retention]); "
                                                                 "purge what has expired")),
    ("backfill", Command(f"{_C}.events:backfill", "rebuild an account's history before its first sync from what its "
                                                  "registry keeps (CloudTrail files, lifecycle actions, registry "
                                                  "timestamps)")),
    ("listen", Command(f"{_C}.events:listen", "receive registry events (MLflow webhooks, SageMaker EventBridge via "
                                              "SQS) and record each change with its own time; runs until stopped")),
):
    COMMANDS.register(_name, _entry)


def register(name: str, arguments: str | Arguments, help: str, *, replace: bool = False) -> Command:
    """Add command ``name`` (``arguments``: a function or ``"module:function"`` declaring its arguments)."""
    command = Command(arguments, help)
    COMMANDS.register(name, command, replace=replace)
    return command


def unregister(name: str) -> None:
    """Forget command ``name`` (a no-op when it is not registered)."""
    COMMANDS.unregister(name)
