"""Registry history for people: the inventory as of an instant, a version's history, an environment at an instant,
and a model's timeline across environments. The CLI, the pages and the reports call these; the SQL lives in
:mod:`governance.catalog.history`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.clock import naive_utc
from core.errors import InputError, NotFound
from governance.catalog import Catalog, InventoryFilter, Version
from governance.catalog.records import from_json
from governance.changes import change_source
from governance.config import Settings

if TYPE_CHECKING:
    from governance.context import Context


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time, with or without zone (none: UTC), as naive UTC."""
    value = (text or "").strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise InputError(f"--as-of {text!r} is not an ISO 8601 date-time (e.g. 2026-03-14T09:30:00+02:00 or "
                         "2026-03-14; without a zone UTC is assumed)") from None
    return naive_utc(parsed)


def inventory_as_of(catalog: Catalog, instant: dt.datetime, environment_order: Sequence[str] = ()) -> pd.DataFrame:
    """The inventory (same columns as ``Catalog.inventory``) as it stood at ``instant``, plus ``in_gap``/``gap_reason``.

    Sorted like the inventory: model, environment in promotion order, newest version first.
    """
    df = catalog.inventory_as_of(naive_utc(instant))
    if df.empty:
        return df
    rank = {env: i for i, env in enumerate(environment_order)}
    df["_rank"] = df["environment"].map(lambda e: rank.get(e, 999))
    df = df.sort_values(["model", "_rank", "environment", "version", "account"],
                        ascending=[True, True, True, False, True], kind="stable")
    return df.drop(columns="_rank").reset_index(drop=True)


@dataclass(frozen=True)
class CoverageNote:
    """An account whose history does not reach back to an instant: nothing listed for it then means nothing known,
    not nothing there."""

    account: str
    history_from: dt.datetime | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``countersign models --as-of --json``: ``coverage``)."""
        return {"account": self.account, "history_from": _iso(self.history_from), "message": self.message}


def coverage_at(settings: Settings, catalog: Catalog, instant: dt.datetime,
                environments: Sequence[str] | None = None) -> list[CoverageNote]:
    """The accounts (holding one of ``environments``, or all) whose history begins after ``instant``, each with one
    line saying from when it is known and how to reach further back."""
    moment = naive_utc(instant)
    wanted = {a.name for a in settings.accounts if not environments or set(a.environments) & set(environments)}
    notes = []
    for reach in catalog.history_reach():
        if reach.account not in wanted:
            continue
        start = reach.history_from
        if start is None:
            notes.append(CoverageNote(reach.account, None, f"{reach.account}: never synced, nothing is known about it; "
                                      "run 'countersign sync' first"))
        elif moment < start and reach.backfill_reach is not None and reach.backfill_reach <= start:
            notes.append(CoverageNote(reach.account, start, (
                f"{reach.account}: no history before {start:%Y-%m-%d %H:%M} UTC, the reach of backfill "
                f"{reach.backfill_id} ({', '.join(reach.backfill_sources) or 'registry timestamps'}); run "
                f"'countersign backfill --account {reach.account} --since DATE' with older records to reach further")))
        elif moment < start:
            notes.append(CoverageNote(reach.account, start, (
                f"{reach.account}: no history before {start:%Y-%m-%d %H:%M} UTC, its first sync; run "
                f"'countersign backfill --account {reach.account}' to rebuild what its registry kept (docs/events.md)")))
    return notes


def version_gaps_at(catalog: Catalog, instant: dt.datetime, accounts: Sequence[str] | None = None) -> list[str]:
    """One line per version known to exist at ``instant`` whose state then is not known (a backfill's labelled gap)."""
    return [f"{g['version_id']}: {g['reason']}" + (f" ({g['detail']})" if g["detail"] else "")
            for g in catalog.version_gaps_at(naive_utc(instant)) if accounts is None or g["account"] in accounts]


@dataclass(frozen=True)
class Approval:
    """One approval decision in Countersign: who, when, and what it saw (gate results, evidence)."""

    request_id: str
    actor: str
    decided_at: dt.datetime
    comment: str | None
    from_env: str
    to_env: str
    gates: dict[str, str]
    evidence: list[dict[str, Any]]
    ledger_hash: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "actor": self.actor, "decided_at": self.decided_at.isoformat(),
                "comment": self.comment, "from_env": self.from_env, "to_env": self.to_env, "gates": self.gates,
                "evidence": self.evidence, "ledger_hash": self.ledger_hash}


@dataclass(frozen=True)
class Deployed:
    """A version in an environment at an instant, with what served it, who approved it, and the binding check's
    verdict then (``flag``, ``flag_reason``; see :mod:`governance.binding`)."""

    version_id: str
    model: str
    version: int
    account: str
    approval_status: str
    labels: list[str]
    deployed_on: str | None
    valid_from: dt.datetime
    time_source: str
    sync_id: str
    ledger_seq: int | None
    request_id: str | None
    approvals: list[Approval] = field(default_factory=list)
    serving_labels: list[str] = field(default_factory=list)  # the labels that meant its environment (the deployment)
    flag: str = ""
    flag_reason: str = ""
    source: str = ""  # what recorded the change that began this state, and how sure its time is (change_source)

    def as_dict(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "model": self.model, "version": self.version, "account": self.account,
                "approval_status": self.approval_status, "labels": self.labels, "deployed_on": self.deployed_on,
                "serving_labels": self.serving_labels, "since": self.valid_from.isoformat(),
                "time_source": self.time_source, "source": self.source, "sync_id": self.sync_id,
                "ledger_seq": self.ledger_seq,
                "request_id": self.request_id, "approvals": [a.as_dict() for a in self.approvals],
                "flag": self.flag.removeprefix("⚠ ") or None, "flag_reason": self.flag_reason or None}


@dataclass(frozen=True)
class EnvironmentState:
    """What an environment held at an instant: its versions, and the accounts whose state was not observed then."""

    environment: str
    instant: dt.datetime
    versions: list[Deployed]
    gaps: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "as_of": self.instant.isoformat(),
                "versions": [v.as_dict() for v in self.versions], "gaps": self.gaps}


def _gates(checklist: Any) -> dict[str, str]:
    results = (checklist or {}).get("results") if isinstance(checklist, dict) else None
    return {r.get("gate"): r.get("status") for r in results or [] if isinstance(r, dict)}


def _evidence(checklist: Any) -> list[dict[str, Any]]:
    results = (checklist or {}).get("results") if isinstance(checklist, dict) else None
    return [{"gate": r.get("gate"), **e} for r in results or [] if isinstance(r, dict)
            for e in r.get("evidence") or [] if isinstance(e, dict)]


def approvals_of(catalog: Catalog, version_ids: Sequence[str], before: dt.datetime | None = None) -> list[Approval]:
    """Countersign approvals of promotion requests for (or resulting in) ``version_ids``, decided by ``before``."""
    rows = catalog.approvals_of(list(version_ids))
    out = []
    for r in rows.itertuples(index=False):
        if r.kind != "approve" or (before is not None and r.decided_at > before):
            continue
        payload = from_json(r.decision_payload) or {}
        checklist = payload.get("checklist")
        out.append(Approval(r.request_id, r.actor, r.decided_at, r.comment, r.from_env, r.to_env, _gates(checklist),
                            _evidence(checklist), r.ledger_hash))
    return out


def environment_at(settings: Settings, catalog: Catalog, environment: str, instant: dt.datetime) -> EnvironmentState:
    """What was in ``environment`` at ``instant``: each version, what served it (an endpoint, or the registry label
    that means the environment), who approved it, on what evidence, and whether the binding check flagged it then."""
    from governance.binding import row_flags

    moment = naive_utc(instant)
    df = catalog.as_of(moment)
    df = df[df["environment"] == environment]
    rows = df.to_dict("records")
    versions = []
    for r, flag in zip(rows, row_flags(settings, catalog, rows, moment), strict=True):
        source = r["source_version_id"]
        ids = [r["version_id"]] + ([source] if isinstance(source, str) else [])
        versions.append(Deployed(
            r["version_id"], r["model"], int(r["version"]), r["account"], r["approval_status"], list(r["labels"]),
            r["deployed_on"] if isinstance(r["deployed_on"], str) else None, r["valid_from"].to_pydatetime(),
            r["time_source"], r["sync_id"], None if pd.isna(r["ledger_seq"]) else int(r["ledger_seq"]),
            r["request_id"] if isinstance(r["request_id"], str) else None, approvals_of(catalog, ids, moment),
            list(flag.serving_labels), flag.flag, flag.reason, change_source(r)))
    gaps = sorted({f"{r['account']}: {r['gap_reason']}" for r in rows if r["in_gap"]})
    # an account whose history starts later, or a version whose state then is unknown, is said, not left out
    holders = [a.name for a in settings.accounts if environment in a.environments]
    gaps += [n.message for n in coverage_at(settings, catalog, moment, [environment])]
    gaps += version_gaps_at(catalog, moment, holders)
    return EnvironmentState(environment, moment, versions, gaps)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _iso(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def version_history(catalog: Catalog, version_id: str) -> dict[str, Any]:
    """Every state of ``version_id`` (approval, labels, environment, card), the deployments that served it, its
    Countersign approvals and the observation gaps of its account, as one JSON-ready document."""
    states = catalog.version_history(version_id)
    if states.empty:
        catalog.version(version_id)  # NotFound for an id the catalog never had
    account = version_id.split(":", 1)[0]
    deps = catalog.deployment_history([version_id])
    gaps = pd.concat([catalog.history_gaps([account]), catalog.version_gaps([version_id])])
    return {
        "version_id": version_id,
        "states": [
            {"valid_from": _iso(r.valid_from), "valid_to": _iso(r.valid_to), "time_source": r.time_source,
             "source": change_source(r._asdict()), "changed_by": _text(r.changed_by), "note": _text(r.note),
             "evidence": _text(r.evidence),
             "valid_to_source": r.valid_to_source if isinstance(r.valid_to_source, str) else None,
             "environment": r.environment, "approval_status": r.approval_status,
             "labels": from_json(r.labels) or [], "card": from_json(r.card), "sync_id": r.sync_id,
             "ledger_seq": None if pd.isna(r.ledger_seq) else int(r.ledger_seq),
             "request_id": r.request_id if isinstance(r.request_id, str) else None}
            for r in states.itertuples(index=False)
        ],
        "deployments": [
            {"endpoint": r.endpoint, "variant": r.variant, "status": r.status, "weight": r.weight,
             "environment": r.environment, "valid_from": _iso(r.valid_from), "valid_to": _iso(r.valid_to),
             "time_source": r.time_source, "source": change_source(r._asdict()), "sync_id": r.sync_id}
            for r in deps.itertuples(index=False)
        ],
        "approvals": [a.as_dict() for a in approvals_of(catalog, [version_id])],
        "gaps": [
            {"account": r.account, "from": _iso(r.gap_from), "to": _iso(r.gap_to), "reason": r.reason,
             "sync_id": r.sync_id, "detail": r.detail if isinstance(r.detail, str) else None,
             "version_id": _text(r.version_id), "source": _text(r.source)}
            for r in gaps.itertuples(index=False)
        ],
    }


def model_timeline(catalog: Catalog, model: str, now: dt.datetime | None = None) -> pd.DataFrame:
    """Bars and points of ``model`` across environments: each version's stay in an environment (with its approval
    status), each deployment, each observation gap, and each Countersign decision as an instant.

    Columns: ``environment``, ``lane`` (``version`` / ``deployment`` / ``gap`` / ``decision``), ``label``,
    ``start``, ``end`` (open intervals end at ``now``), ``status``, ``source`` (what saw the change and how sure
    its time is: ``sync (inferred)``, ``event (exact)``, ``cloudtrail (exact)`` …; see :func:`change_source`).
    """
    end_now = pd.Timestamp(naive_utc(now) if now else dt.datetime.now(dt.UTC).replace(tzinfo=None))
    rows: list[dict[str, Any]] = []
    states = catalog.model_history(model)
    for r in states.itertuples(index=False):
        rows.append({"environment": r.environment, "lane": "version", "label": f"v{r.version} ({r.account})",
                     "start": r.valid_from, "end": r.valid_to if not pd.isna(r.valid_to) else end_now,
                     "status": r.approval_status, "source": change_source(r._asdict())})
    for r in catalog.deployment_history(model=model).itertuples(index=False):
        rows.append({"environment": r.environment, "lane": "deployment",
                     "label": f"{r.endpoint}/{r.variant} → {str(r.version_id or '?').rsplit(':', 1)[-1]}",
                     "start": r.valid_from, "end": r.valid_to if not pd.isna(r.valid_to) else end_now,
                     "status": r.status, "source": change_source(r._asdict())})
    accounts = sorted(set(states["account"])) if not states.empty else []
    env_of = dict(zip(states["account"], states["environment"], strict=False)) if not states.empty else {}
    ids = sorted(set(states["version_id"])) if not states.empty else []
    gaps = pd.concat([catalog.history_gaps(accounts), catalog.version_gaps(ids)]) if accounts else pd.DataFrame()
    for r in gaps.itertuples(index=False):
        rows.append({"environment": env_of.get(r.account, r.account), "lane": "gap",
                     "label": r.reason + (f" ({r.version_id.rsplit(':', 1)[-1]})" if isinstance(r.version_id, str)
                                          else ""),
                     "start": r.gap_from if not pd.isna(r.gap_from) else r.gap_to,
                     "end": r.gap_to if not pd.isna(r.gap_to) else end_now, "status": "gap",
                     "source": r.source if isinstance(r.source, str) else "sync"})
    for r in catalog.approvals_of(ids).itertuples(index=False) if ids else []:
        if isinstance(r.kind, str):
            rows.append({"environment": r.to_env, "lane": "decision", "label": f"{r.kind} by {r.actor}",
                         "start": r.decided_at, "end": r.decided_at, "status": r.kind, "source": "countersign"})
    return pd.DataFrame(rows, columns=["environment", "lane", "label", "start", "end", "status", "source"])



def version_label(version: int, source: tuple[str, int] | None = None) -> str:
    """A version number as people read it: ``3``, or for a promoted copy ``3 (from dev v3)`` (``source`` is the
    environment and number of the version it was promoted from)."""
    if source is None:
        return str(version)
    return f"{version} (from {source[0]} v{source[1]})"


def with_version_labels(catalog: Catalog, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (inventory rows) with a ``version_label`` column: the number, and for a promoted copy its source's
    environment and number. A source no longer in the catalog is named by its id."""
    if df.empty:
        return df.assign(version_label=pd.Series(dtype=str))
    known = {r.version_id: (r.environment, int(r.version)) for r in df.itertuples()}
    sources: dict[str, tuple[str, int] | str] = {}
    for sid in {s for s in df["source_version_id"] if isinstance(s, str) and s}:
        if sid in known:
            sources[sid] = known[sid]
            continue
        try:
            found = catalog.version(sid)
        except NotFound:
            sources[sid] = sid
        else:
            sources[sid] = (found.environment, found.version)

    def label(version: Any, sid: Any) -> str:
        source = sources.get(sid) if isinstance(sid, str) else None
        if isinstance(source, str):
            return f"{int(version)} (from {source})"
        return version_label(int(version), source)

    return df.assign(version_label=[label(v, s) for v, s in zip(df["version"], df["source_version_id"], strict=True)])


def inventory_at(ctx: Context, flt: InventoryFilter, as_of: dt.datetime | None = None) -> pd.DataFrame:
    """The flagged inventory the Inventory page shows: today's (``as_of`` None) or as it stood at ``as_of``, with the
    same filters, and the binding check's flags (:func:`governance.binding.flag_deployments`) either way."""
    from governance.binding import flag_deployments

    catalog, order = ctx.catalog, ctx.settings.environments.order
    if as_of is None:
        return with_version_labels(catalog, flag_deployments(ctx.settings, catalog,
                                                             catalog.inventory(flt, environment_order=order)))
    df = inventory_as_of(catalog, as_of, order)
    for column, values in (("environment", flt.environments), ("account", flt.accounts),
                           ("approval_status", flt.statuses), ("risk_tier", flt.risk_tiers), ("owner", flt.owners)):
        if values:
            df = df[df[column].isin(values)]
    if flt.model:
        df = df[df["model"] == flt.model]
    if flt.text.strip() and not df.empty:  # (an empty frame's row-wise join is a frame, not text)
        needle = flt.text.strip().lower()
        hay = df[["model", "version_id", "created_by", "owner"]].fillna("").astype(str).agg(" ".join, axis=1)
        df = df[hay.str.lower().str.contains(needle, regex=False)]
    return with_version_labels(catalog, flag_deployments(ctx.settings, catalog, df.reset_index(drop=True),
                                                         naive_utc(as_of)))


def _readable(value: Any) -> str:
    """A detail value as text: floats to 3 decimals, lists joined, nothing as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def version_details(version: Version, run: dict[str, Any] | None = None) -> pd.DataFrame:
    """The details of ``version`` (and of its training ``run``) as (field, value) rows a person reads: one row per
    field, metric, data set and metadata key."""
    rows: list[tuple[str, Any]] = [
        ("Version id", version.version_id), ("Account", version.account), ("Environment", version.environment),
        ("Created by", version.created_by), ("Created", version.created_at),
        ("Registry status", version.approval_status), ("Labels", list(version.labels)),
        ("Promoted from", version.source_version_id), ("Framework", version.framework),
        ("Artifact", version.artifact_uri), ("Artifact sha256", version.artifact_sha256), ("Image", version.image),
    ]
    rows += [(f"Metric: {k}", v) for k, v in sorted(version.metrics.items())]
    rows += [(f"Data: {k}", v) for k, v in sorted(version.data_uris.items())]
    rows += [(f"Metadata: {k}", v) for k, v in sorted(version.metadata.items())]
    if run:
        rows.append(("Training run", run.get("name")))
        rows += [(f"Run parameter: {k}", v) for k, v in sorted((run.get("params") or {}).items())]
        rows += [(f"Run metric: {k}", v) for k, v in sorted((run.get("metrics") or {}).items())]
    return pd.DataFrame({"field": [f for f, _ in rows], "value": [_readable(v) for _, v in rows]})


def version_json(version: Version, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """The details of ``version`` and its training ``run`` as JSON-ready data, for the raw view."""
    data = {k: getattr(version, k) for k in version.__dataclass_fields__ if k != "raw"}
    data = {k: str(v) if isinstance(v, dt.datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in data.items()}
    if run:
        data["run"] = {"name": run.get("name"), "params": run.get("params"), "metrics": run.get("metrics")}
    return data
