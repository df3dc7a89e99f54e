"""The continuous binding check: every version that serves is one Countersign approved, with the bytes it approved.

A version **serves** in its environment when an endpoint variant serving it is in service, or when it holds the
registry label its account maps to that environment (``AccountConfig.label_environment``: an MLflow alias of
``alias_environments``, a ZenML stage of ``stage_environments``) — in MLflow the alias *is* the deployment
(serving loads ``models:/name@champion``), in ZenML the stage is. A serving version is flagged when

- its registry status is not ``Approved`` (anywhere: the registry itself says it should not serve);
- in the last environment of ``[environments] order`` (prod), it was **never approved through Countersign**: no
  executed promotion request put it there (its target is this version, or for a promotion by label within one
  registry, its version is);
- wherever an executed promotion put it, its **artifact changed since approval**: its ``artifact_sha256`` today
  differs from the digest the request froze, or the request froze one and the version has none now (fail closed).

The approvals are read from the ledger, not from the request rows (a mutable cache): a request counts once its
``execute.done`` entry exists, and the digest it bound is the ``artifact_sha256`` of its ``request.create`` entry.
As of an instant, only entries recorded by then count. :func:`flag_deployments` applies the check to inventory
rows (today's or the history's), and everything that shows deployments reads its columns: the Inventory and
Oversight pages, ``countersign models`` (also ``--as-of``), ``countersign monitor`` and ``notify``, the report.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.structs import Row
from core.wording import words
from governance.catalog import Catalog, InventoryFilter
from governance.config import AccountConfig, Settings
from governance.ledger.subjects import parse_subject

if TYPE_CHECKING:
    import pandas as pd

    from governance.context import Context

FLAG_UNAPPROVED = "⚠ unapproved deployment"
FLAG_NO_SIGNOFF = "⚠ no Countersign sign-off"
FLAG_ARTIFACT_CHANGED = "⚠ artifact changed since approval"
# what a registry calls the labels that mean environments, by connector kind (others: "registry label")
LABEL_NOUNS = {"mlflow": "MLflow alias", "zenml": "ZenML stage"}


class Binding(Row):
    """An executed Countersign promotion that put ``version_id`` into ``environment``, and the digest it froze."""

    request_id: str
    version_id: str
    environment: str
    artifact_sha256: str | None
    executed_at: dt.datetime


class DeploymentFlag(Row):
    """Whether one version serves, and what is wrong with that, as the portal, the CLI and notifications say it."""

    in_use: bool  # serving on an endpoint, or holding the label of its environment
    serving_labels: tuple[str, ...]  # the labels that mean its environment in its account
    how: str  # "serves on endpoint X (prod)", "holds the MLflow alias champion (prod)"
    registry_unapproved: bool  # in use while its registry status is not Approved
    no_signoff: bool  # in use in the last environment without an executed Countersign promotion into it
    artifact_changed: bool  # its digest differs from the one its approval bound (or is gone)
    request_id: str | None  # the executed promotion that binds it there
    approved_sha256: str | None
    current_sha256: str | None
    flag: str  # FLAG_ARTIFACT_CHANGED, FLAG_UNAPPROVED, FLAG_NO_SIGNOFF or empty
    reason: str  # the whole finding in plain words, empty when none

    @property
    def flagged(self) -> bool:
        return bool(self.flag)

    @property
    def problems(self) -> tuple[str, ...]:
        """Stable codes of what is wrong (notifications de-duplicate on them): a new swap is a new problem."""
        return tuple(code for code, on in (
            ("never-approved", self.no_signoff), ("registry-unapproved", self.registry_unapproved),
            (f"artifact-changed:{self.current_sha256 or 'none'}", self.artifact_changed)) if on)


class Finding(Row):
    """One serving version the binding check flags."""

    version_id: str
    model: str
    version: int
    account: str
    environment: str
    flag: DeploymentFlag

    @property
    def sentence(self) -> str:
        """The finding as one line: ``lab-prod:m:2 (prod) holds the MLflow alias champion (prod) but ...``."""
        return f"{self.version_id} ({self.environment}) {self.flag.reason}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        f = self.flag
        return {"version_id": self.version_id, "model": self.model, "version": self.version, "account": self.account,
                "environment": self.environment, "flag": f.flag.removeprefix("⚠ "), "reason": f.reason,
                "serving_labels": list(f.serving_labels), "never_approved": f.no_signoff,
                "registry_unapproved": f.registry_unapproved, "artifact_changed": f.artifact_changed,
                "request_id": f.request_id, "approved_sha256": f.approved_sha256, "current_sha256": f.current_sha256}


# -- what serves ---------------------------------------------------------------------------------------------------


def serving_labels(account: AccountConfig | None, environment: str, labels: Iterable[str]) -> tuple[str, ...]:
    """The registry labels (MLflow aliases, ZenML stages) that mean ``environment`` in ``account``: the version
    holding one is the one in use there. None when the account is no longer configured."""
    if account is None:
        return ()
    return tuple(x for x in labels if account.label_environment(x) == environment)


def label_noun(account: AccountConfig | None) -> str:
    """What the account's registry calls a label that means an environment (``MLflow alias``, ``ZenML stage``)."""
    return LABEL_NOUNS.get(account.connector if account is not None else "", "registry label")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _labels(value: Any) -> list[str]:
    """Labels as the list they are (a frame cell may hold a list, a numpy array, or JSON text from older rows)."""
    if isinstance(value, str):
        value = json.loads(value) if value.startswith("[") else [value]
    return [str(x) for x in value] if value is not None and not isinstance(value, float) else []


# -- what Countersign approved -------------------------------------------------------------------------------------


def bindings(catalog: Catalog, before: dt.datetime | None = None) -> dict[tuple[str, str], Binding]:
    """The newest executed promotion per (version id, environment), from the ledger (entries up to ``before``)."""
    created: dict[str, dict[str, Any]] = {}
    out: dict[tuple[str, str], Binding] = {}
    for entry in catalog.promotion_ledger_entries(before):
        request_id = parse_subject(str(entry["subject"] or ""))[1]  # promotion entries name a request
        payload = json.loads(entry["payload"] or "{}")
        if entry["action"] == "fallback.executed":  # an approved fallback executed: Countersign put it there too
            bound = payload.get("binds") or {}
            if _text(bound.get("version_id")) and _text(bound.get("environment")):
                out[(bound["version_id"], bound["environment"])] = Binding(
                    str(payload.get("event_id") or entry["subject"]), bound["version_id"], bound["environment"],
                    _text(bound.get("artifact_sha256")), entry["recorded_at"])
            continue
        if entry["action"] == "request.create":
            created[request_id] = payload
            continue
        request = created.get(request_id)
        if request is None or not request.get("to_env"):
            continue  # an execution whose request the ledger does not hold approves nothing
        target = _text(payload.get("target_version_id"))
        if target is None and request.get("target_account") == str(request.get("version_id", "")).split(":")[0]:
            target = _text(request.get("version_id"))  # a label moved within one registry: the version itself
        if target is not None:
            out[(target, request["to_env"])] = Binding(request_id, target, request["to_env"],
                                                       _text(request.get("artifact_sha256")), entry["recorded_at"])
    return out


# -- the check -----------------------------------------------------------------------------------------------------


def _how(row: Mapping[str, Any], account: AccountConfig | None, labels: Sequence[str]) -> str:
    parts = []
    if row.get("serving"):
        parts.append(f"serves on endpoint {_text(row.get('deployed_on')) or '?'} ({row['environment']})")
    if labels:
        parts.append(f"holds the {label_noun(account)} {', '.join(labels)} ({row['environment']})")
    return " and ".join(parts)


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "none"


def deployment_flag(row: Mapping[str, Any], *, last_env: str | None, account: AccountConfig | None,
                    binding: Binding | None) -> DeploymentFlag:
    """The binding check of one inventory row (``Catalog.inventory_rows``, or a row as of an instant).

    ``row`` needs ``environment``, ``labels``, ``serving``, ``deployed_on``, ``approval_status`` and, to compare
    digests, ``artifact_sha256`` (a row without that column is not compared: the history before digests were kept).
    """
    labels = serving_labels(account, row["environment"], _labels(row.get("labels")))
    in_use = bool(row.get("serving")) or bool(labels)
    registry = in_use and row.get("approval_status") != "Approved"
    no_signoff = in_use and row["environment"] == last_env and binding is None
    compared = "artifact_sha256" in row
    current = _text(row.get("artifact_sha256"))
    approved = binding.artifact_sha256 if binding is not None else None
    changed = in_use and compared and approved is not None and current != approved
    problems = []
    if changed:
        problems.append(f"its artifact changed since approval ({binding.request_id}): sha256 {_short(approved)} "
                        f"approved, {_short(current)} now")
    if no_signoff:
        problems.append("was never approved in Countersign")
    if registry:
        problems.append(f"its registry status is {words(row.get('approval_status'))} (not approved)")
    how = _how(row, account, labels)
    flag = (FLAG_ARTIFACT_CHANGED if changed else FLAG_UNAPPROVED if registry else FLAG_NO_SIGNOFF if no_signoff
            else "")
    return DeploymentFlag(in_use, labels, how, registry, no_signoff, changed,
                          binding.request_id if binding is not None else None, approved, current if compared else None,
                          flag, f"{how} but {' and '.join(problems)}" if problems else "")


def row_flags(settings: Settings, catalog: Catalog, rows: Sequence[Mapping[str, Any]],
              as_of: dt.datetime | None = None) -> list[DeploymentFlag]:
    """:func:`deployment_flag` of each row, with the approvals executed by ``as_of`` (None: by now)."""
    order = settings.environments.order
    last_env = order[-1] if order else None
    accounts = {a.name: a for a in settings.accounts}
    bound = bindings(catalog, as_of) if rows else {}
    return [deployment_flag(row, last_env=last_env, account=accounts.get(row["account"]),
                            binding=bound.get((row["version_id"], row["environment"]))) for row in rows]


def flag_deployments(settings: Settings, catalog: Catalog, inventory: pd.DataFrame,
                     as_of: dt.datetime | None = None) -> pd.DataFrame:
    """The inventory (``Catalog.inventory``, or as of ``as_of``) with the binding check's columns: ``serving_labels``,
    ``in_use``, ``unapproved_deployment`` (now counting labels too), ``no_signoff``, ``artifact_changed``,
    ``bound_request_id``, ``flagged``, ``flag`` and ``flag_reason``."""
    import pandas as pd

    flags = row_flags(settings, catalog, inventory.to_dict("records"), as_of)

    def column(values: list[Any], dtype: Any = object) -> pd.Series:
        return pd.Series(values, index=inventory.index, dtype=dtype)

    return inventory.assign(
        serving_labels=column([list(f.serving_labels) for f in flags]),
        in_use=column([f.in_use for f in flags], bool),
        unapproved_deployment=column([f.registry_unapproved for f in flags], bool),
        no_signoff=column([f.no_signoff for f in flags], bool),
        artifact_changed=column([f.artifact_changed for f in flags], bool),
        bound_request_id=column([f.request_id for f in flags]),
        flagged=column([f.flagged for f in flags], bool),
        flag=column([f.flag for f in flags]),
        flag_reason=column([f.reason for f in flags]),
    )


def findings(settings: Settings, catalog: Catalog, environments: Sequence[str] = ()) -> tuple[Finding, ...]:
    """Every serving version the check flags today (in ``environments``, or all), in inventory order."""
    rows = catalog.inventory_rows(InventoryFilter(environments=tuple(environments)),
                                  environment_order=settings.environments.order)
    return tuple(Finding(r["version_id"], r["model"], int(r["version"]), r["account"], r["environment"], f)
                 for r, f in zip(rows, row_flags(settings, catalog, rows), strict=True) if f.flagged)


def check_deployments(ctx: Context) -> tuple[Finding, ...]:
    """:func:`findings` for who acts in ``ctx`` (needs "view"): what ``countersign monitor`` and the Oversight page
    report."""
    from governance.identity import require

    require(ctx.identity, "view")
    return findings(ctx.settings, ctx.catalog)


def unapproved_deployments(settings: Settings, catalog: Catalog, environment: str | None = None) -> pd.DataFrame:
    """The flagged serving versions of ``environment`` (default: the last one) as inventory rows with their flags."""
    env = environment or settings.environments.order[-1]
    inv = catalog.inventory(InventoryFilter(environments=(env,)), settings.environments.order)
    flagged = flag_deployments(settings, catalog, inv)
    return flagged[flagged["flagged"]].reset_index(drop=True)
