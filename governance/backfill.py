"""``countersign backfill``: an account's history before its first sync, rebuilt from what its registry keeps.

Sources, each row marked with its own (``change_source``) and how sure its time is (``confidence``):

- ``cloudtrail`` (SageMaker): every call that created, approved, rejected or deleted a version, or changed what an
  endpoint served, from the CloudTrail log files in S3; exact.
- ``lifecycle action`` (SageMaker): each ``ModelLifeCycle`` stage change; exact.
- ``registry timestamp`` (every kind): a version's creation time and creator as the registry keeps them (the last
  sync read them). They date a version's existence, not its state: from its creation to its first known state the
  version is a labelled gap ("state unknown"), never a guessed state. Its last-modified time already dates its first
  synced state (``inferred``).

Gaps stay gaps: a day without a CloudTrail file is an account gap, a version whose state is not recorded a version
gap. The rows end where the first sync's begin. The backfill is idempotent: rows are keyed by what they state, and a
second run reading the same records writes nothing (not even a ledger entry); a run reading more (an earlier
``--since``) replaces the earlier run's rows, marking them superseded. Every run that writes is one ledger entry
(``history.backfill``) naming each object read with the sha256 of its bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.base import HistoryRead, HistoryReader, RegistryChange
from core.canonical import canonical_json
from core.clock import naive_utc, utcnow
from core.errors import InputError
from core.ids import version_id_for
from core.progress import ProgressFn, no_progress
from governance.catalog.backfill import PlannedRows
from governance.catalog.history import deployment_state_hash, state_hash
from governance.changes import UNKNOWN_STATUS, VersionState, apply_change, environment_of, row_id
from governance.config import AccountConfig
from governance.identity import require

if TYPE_CHECKING:
    from governance.context import Context


@dataclass(frozen=True)
class BackfillResult:
    """What one backfill read and wrote."""

    account: str
    backfill_id: str | None
    changed: bool
    since: dt.datetime | None
    until: dt.datetime
    reach: dt.datetime | None
    sources: tuple[str, ...]
    objects: int
    counts: dict[str, int] = field(default_factory=dict)
    issues: tuple[str, ...] = ()
    ledger_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``countersign backfill --json``)."""
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {"account": self.account, "backfill_id": self.backfill_id, "changed": self.changed,
                "since": iso(self.since), "until": iso(self.until), "reach": iso(self.reach),
                "sources": list(self.sources), "objects": self.objects, "counts": self.counts,
                "issues": list(self.issues), "ledger_seq": self.ledger_seq}


def backfill(ctx: Context, account_name: str, *, since: dt.datetime | None = None, records: str | None = None,
             progress: ProgressFn = no_progress) -> BackfillResult:
    """Rebuild ``account_name``'s history before its first sync from its registry's records (CloudTrail files at
    ``records`` for SageMaker), idempotently, tied to one ledger entry naming what was read."""
    from governance.sources import connector_of

    require(ctx.identity, "sync")
    account = ctx.settings.account(account_name)
    basis = ctx.catalog.backfill_basis(account.name)
    until = basis["first_sync"]
    if until is None:
        raise InputError(f"account {account.name!r} has never synced: run 'countersign sync --account {account.name}' "
                         "first; the backfill fills in the history before that sync")
    since = naive_utc(since) if since is not None else None
    if since is not None and since >= until:
        raise InputError(f"--since {since:%Y-%m-%d} is not before the first sync of {account.name} "
                         f"({until:%Y-%m-%d %H:%M} UTC): nothing to fill in")
    connector = connector_of(ctx.workspace, account)
    if isinstance(connector, HistoryReader):
        read = connector.read_history(since, until, records=records, progress=progress)
    elif records:
        raise InputError(f"--cloudtrail reads SageMaker accounts' CloudTrail files; {account.name!r} is a "
                         f"{account.connector} account (its backfill reads registry timestamps only)")
    else:
        read = HistoryRead()
    planned = plan_rows(account, basis, read, since, until)
    return _write(ctx, account, basis, read, planned, since, until)


def _digest(planned: PlannedRows, read: HistoryRead) -> str:
    ids = {t: sorted(r["gap_id" if t == "history_gaps" else "history_id"] for r in planned.of(t))
           for t in ("version_history", "deployment_history", "history_gaps")}
    reach = read.reach.isoformat() if read.reach else None
    return hashlib.sha256(canonical_json({"rows": ids, "reach": reach, "sources": list(read.sources)}).encode()
                          ).hexdigest()


def _write(ctx: Context, account: AccountConfig, basis: dict[str, Any], read: HistoryRead, planned: PlannedRows,
           since: dt.datetime | None, until: dt.datetime) -> BackfillResult:
    from governance import ledger
    from governance.ledger.subjects import account_subject

    digest = _digest(planned, read)
    issues = tuple(f"{i.ref}: {i.message}" for i in read.issues)
    current = ctx.catalog.current_backfill(account.name)
    if current is not None and current["rows_sha256"] == digest:  # the same reading again: nothing to write
        return BackfillResult(account.name, current["backfill_id"], False, since, until, read.reach, read.sources,
                              len(read.objects), {}, issues, current["ledger_seq"])
    started = utcnow()
    backfill_id = f"BF-{account.name}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    stamps = sorted([v["version_id"], str(v["created_at"]), v["created_by"], str(v["modified_at"])]
                    for v in basis["versions"])
    payload = {
        "backfill_id": backfill_id, "since": since.isoformat() if since else None, "until": until.isoformat(),
        "reach": read.reach.isoformat() if read.reach else None, "sources": [*read.sources, "registry timestamp"],
        "objects": [{"uri": o.uri, "sha256": o.sha256, "size": o.size, "records": o.records} for o in read.objects],
        "registry_timestamps": {"versions": len(stamps),
                                "sha256": hashlib.sha256(canonical_json(stamps).encode()).hexdigest()},
        "rows": {t: len(planned.of(t)) for t in ("version_history", "deployment_history", "history_gaps")},
        "rows_sha256": digest, "issues": list(issues[:50]),
    }
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the backfill of {account.name}")
        existing = ctx.catalog.backfill_rows(con, account.name)
        entry = ledger.append(con, actor=ctx.identity.email, action="history.backfill",
                              subject=account_subject(account.name), payload=payload)
        tie = {"backfill_id": backfill_id, "sync_id": backfill_id, "ledger_seq": entry.seq, "ledger_hash": entry.hash}
        stamped = PlannedRows(*(tuple({**r, **tie} for r in planned.of(t))
                                for t in ("version_history", "deployment_history", "history_gaps")))
        record = {"backfill_id": backfill_id, "account": account.name, "started_at": started, "since": since,
                  "until": until, "reach": read.reach, "sources": canonical_json(list(read.sources)),
                  "counts": canonical_json(payload["rows"]), "rows_sha256": digest, "actor": ctx.identity.email,
                  "ledger_seq": entry.seq, "ledger_hash": entry.hash, "superseded_by": None}
        counts = ctx.catalog.write_backfill(con, account.name, record, stamped, existing)
    return BackfillResult(account.name, backfill_id, True, since, until, read.reach, read.sources, len(read.objects),
                          counts, issues, entry.seq)


# -- planning the rows (pure) ------------------------------------------------------------------------------------------


def _versions_of(account: str, basis: dict[str, Any], changes: Iterable[RegistryChange]) -> tuple[
        dict[str, dict[str, Any]], dict[str, list[RegistryChange]]]:
    """Each version the catalog or the changes know, and its changes (matched by registry id, else by number)."""
    known = {v["version_id"]: v for v in basis["versions"]}
    by_ref = {(v["source_ref"] or "").lower(): v["version_id"] for v in basis["versions"]}
    by_number = {(v["model"].lower(), v["version"]): v["version_id"] for v in basis["versions"]}
    grouped: dict[str, list[RegistryChange]] = defaultdict(list)
    for c in changes:
        if c.what != "version" or c.model is None or c.version is None:
            continue
        vid = by_ref.get((c.source_ref or "").lower()) or by_number.get((c.model.lower(), c.version)) \
            or version_id_for(account, c.model, c.version)
        known.setdefault(vid, {"version_id": vid, "model": c.model, "version": c.version, "source_ref": c.source_ref,
                               "created_at": None, "created_by": None, "artifact_uri": None})
        grouped[vid].append(c)
    return known, grouped


def plan_rows(account: AccountConfig, basis: dict[str, Any], read: HistoryRead, since: dt.datetime | None,
              until: dt.datetime) -> PlannedRows:
    """The history rows a backfill states for ``account`` (see the module docstring), without writing them."""
    versions, grouped = _versions_of(account.name, basis, read.changes)
    version_rows: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    for vid, v in sorted(versions.items()):
        first = basis["first_states"].get(vid)
        boundary = first["valid_from"] if first else until
        rows = _version_rows(account, v, [c for c in grouped.get(vid, []) if c.at < boundary], boundary,
                             first["time_source"] if first else "sync")
        version_rows += rows
        gap = _version_gap(account.name, v, rows, since, boundary)
        if gap is not None:
            gaps.append(gap)
    gaps += [{"gap_id": row_id("gap", account.name, a, b, why), "account": account.name, "gap_from": a, "gap_to": b,
              "reason": why, "detail": "what happened then is unknown: no record of that period was read",
              "version_id": None, "source": "cloudtrail"} for a, b, why in read.gaps]
    deployments = _deployment_rows(account, basis, versions, read.changes, until)
    return PlannedRows(tuple(version_rows), tuple(deployments), tuple(gaps))


def _version_rows(account: AccountConfig, v: dict[str, Any], changes: list[RegistryChange], boundary: dt.datetime,
                  boundary_source: str) -> list[dict[str, Any]]:
    """The states ``changes`` (oldest first) give version ``v`` before ``boundary``, one closed row each."""
    rows: list[dict[str, Any]] = []
    state: VersionState | None = None
    for i, change in enumerate(changes):
        state = apply_change(state, change)
        end = changes[i + 1].at if i + 1 < len(changes) else boundary
        if state is None or not state.known or end <= change.at:
            continue  # deleted, nothing known yet, or replaced within the same instant
        environment = environment_of(account, state.labels)
        status = state.status or UNKNOWN_STATUS
        digest = state_hash(environment, status, state.description, state.labels, None)
        closes = "source" if i + 1 < len(changes) else boundary_source
        rows.append({
            "history_id": row_id("v", v["version_id"], change.at, end, digest, change.source, change.event_id),
            "version_id": v["version_id"], "account": account.name, "environment": environment, "model": v["model"],
            "version": v["version"], "approval_status": status, "approval_description": state.description,
            "labels": list(state.labels), "card": None, "created_at": v.get("created_at"),
            "created_by": v.get("created_by"), "modified_at": None, "source_version_id": None, "state_hash": digest,
            "valid_from": change.at, "time_source": "source", "valid_to": end, "valid_to_source": closes,
            "request_id": None, "closed_by_sync": None, "change_source": change.source,
            "confidence": change.confidence, "changed_by": change.actor, "note": change.note,
            "evidence": change.evidence, "event_id": change.event_id, "superseded_by": None,
        })
    return rows


def _version_gap(account: str, v: dict[str, Any], rows: list[dict[str, Any]], since: dt.datetime | None,
                 boundary: dt.datetime) -> dict[str, Any] | None:
    """The period in which ``v`` existed but no record says its state, labelled with what is known."""
    created = v.get("created_at")
    start = max(x for x in (created, since) if x is not None) if (created or since) else None
    end = rows[0]["valid_from"] if rows else boundary
    if start is None or start >= end:
        return None
    known = (f"created {created:%Y-%m-%d %H:%M} UTC" + (f" by {v['created_by']}" if v.get("created_by") else "")
             + " (registry timestamp); " if created else "")
    detail = f"{known}no record of its state before {end:%Y-%m-%d %H:%M} UTC"
    return {"gap_id": row_id("vgap", v["version_id"], start, end), "account": account, "gap_from": start,
            "gap_to": end, "reason": "state unknown", "detail": detail, "version_id": v["version_id"],
            "source": "registry timestamp" if created else "cloudtrail"}


def _deployment_rows(account: AccountConfig, basis: dict[str, Any], versions: dict[str, dict[str, Any]],
                     changes: Iterable[RegistryChange], until: dt.datetime) -> list[dict[str, Any]]:
    """What each endpoint variant served, from the changes, before its first synced state."""
    by_ref = {(v.get("source_ref") or "").lower(): vid for vid, v in versions.items()}
    by_artifact = {v["artifact_uri"]: vid for vid, v in versions.items() if v.get("artifact_uri")}
    per: dict[str, list[RegistryChange]] = defaultdict(list)
    for c in changes:
        if c.what == "deployment" and c.endpoint and c.variant and c.action in ("serving", "ended"):
            per[f"{account.name}:{c.endpoint}:{c.variant}"].append(c)
    rows = []
    for did, items in sorted(per.items()):
        boundary = basis["first_deployments"].get(did) or until
        items = [c for c in items if c.at < boundary]
        for i, c in enumerate(items):
            end = items[i + 1].at if i + 1 < len(items) else boundary
            if c.action != "serving" or end <= c.at:
                continue
            vid = by_ref.get((c.source_ref or "").lower()) or by_artifact.get(c.model_data_uri or "") or (
                version_id_for(account.name, c.model, c.version) if c.model and c.version is not None else None)
            model = versions[vid]["model"] if vid in versions else c.model
            digest = deployment_state_hash(account.environment, c.endpoint, c.variant, "InService", model, vid,
                                           c.weight)
            rows.append({
                "history_id": row_id("d", did, c.at, end, digest, c.event_id), "deployment_id": did,
                "account": account.name, "environment": account.environment, "endpoint": c.endpoint,
                "variant": c.variant, "status": "InService", "model": model, "version_id": vid, "weight": c.weight,
                "updated_at": c.at, "state_hash": digest, "valid_from": c.at, "time_source": "source",
                "valid_to": end, "valid_to_source": "source" if i + 1 < len(items) else "sync", "request_id": None,
                "closed_by_sync": None, "change_source": c.source, "confidence": c.confidence,
                "changed_by": c.actor, "note": c.note, "evidence": c.evidence, "event_id": c.event_id,
                "superseded_by": None,
            })
    return rows
