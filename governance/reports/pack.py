"""The audit pack: one zip an examiner can verify and query offline.

    report/<version>__<template>.pdf   the signed report
    report/<version>__<template>.html  the interactive HTML report built with it (its sha256 is in the export's
                                       ledger entry; open it in any browser, offline)
    report/signing-cert.pem            the certificate it was signed with, a person's or the organisation seal's
                                       (check it against one obtained independently)
    evidence/<kind>-<id>.json          every evidence row of the model's versions in the lineage
    catalog/<table>.parquet            the catalog rows of the model: models, versions, runs, deployments,
                                       model_cards, evidence, promotion_requests, decisions
    history/<table>.parquet            the registry history of the model: version_history, deployment_history,
                                       history_gaps (query them as of any instant, README section 5), and
                                       label_environments: which registry label means which environment in
                                       which account (an MLflow alias, a ZenML stage: a deployment by label)
    ledger/entries.parquet + .jsonl    the ledger from the first entry about the model to the head, unmodified
    ledger/checkpoint-*.json           the checkpoints sealing that range, and the ledger's public key
    README.md                          how to verify and query it
    RETENTION.json                     each file's kind and the day until which it must be kept ([policy.retention])
    manifest.json                      what the pack is of, and the Countersign version that built it
    SHA256SUMS                         sha256 of every other file (``sha256sum -c SHA256SUMS``)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.canonical import canonical_json
from core.progress import ProgressFn, no_progress
from governance import __version__
from governance.catalog import Catalog
from governance.catalog.history import LABEL_ENVIRONMENTS, as_of_sql_for_files
from governance.config import Settings, Workspace
from governance.identity import Identity, require
from governance.reports.export import (
    DEFAULT_TEMPLATE,
    ReportExport,
    archive_path,
    default_filename,
    export_report,
    record_export,
    stage,
)

# Zip members carry a fixed date (the format's epoch) rather than the clock: the pack's dates are in its files.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
CATALOG_TABLES = ("models", "versions", "runs", "deployments", "model_cards", "evidence", "promotion_requests",
                  "decisions", "fallback_plans", "fallback_events", "incidents", "incident_events", "card_edits",
                  "card_writebacks")


@dataclass(frozen=True)
class PackFile:
    """One member of the pack."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class AuditPack:
    """A written audit pack."""

    path: Path
    sha256: str
    files: tuple[PackFile, ...]
    report: ReportExport
    ledger_range: tuple[int, int] | None
    ledger_seq: int | None
    ledger_hash: str | None
    seconds: float


def _table_rows(catalog: Catalog, table: str, model: str, version_ids: list[str]) -> pd.DataFrame:
    return catalog.model_rows(table, model, version_ids)


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _label_environments(settings: Settings, version_history: pd.DataFrame) -> bytes:
    """(account, label, environment) for every label of the model's history that means an environment in its
    account as configured today (typed columns even when empty, so the README query reads them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    accounts = {a.name: a for a in settings.accounts}
    seen = sorted({(r["account"], label, env) for r in version_history.to_dict("records")
                   if (account := accounts.get(r["account"])) is not None
                   for label in json.loads(r["labels"] or "[]")
                   if (env := account.label_environment(label)) is not None})
    strings = pa.string()
    columns = {"account": [s[0] for s in seen], "label": [s[1] for s in seen], "environment": [s[2] for s in seen]}
    buf = io.BytesIO()
    pq.write_table(pa.table(columns, schema=pa.schema([(k, strings) for k in columns])), buf)
    return buf.getvalue()


def _ledger_slice(catalog: Catalog, needles: list[str]) -> pd.DataFrame:
    """Ledger rows from the first entry about the model to the head: a contiguous run whose chain re-verifies."""
    return catalog.ledger_slice(needles)


README = """# Audit pack: {version_id}

Built by Countersign {countersign_version} for {organisation}, exported by {who}.
Report template: {template} version {template_version}. Report sha256: {report_sha256}.
Interactive HTML report: {html_name} (sha256 {html_sha256}, recorded in the same ledger entry as the PDF's).

## 1. Check that no file was changed

    sha256sum -c SHA256SUMS

## 2. Check the report's signature

    countersign pdf verify {report_name} --trust CERT.pem

Use a certificate of the signing organisation obtained independently (not only `report/signing-cert.pem`, which
travels with the pack). Exit status 0 means intact, valid and trusted; any PAdES-aware reader works too.

## 3. Re-query the evidence and the catalog offline

    duckdb -c "SELECT evidence_id, kind, computed_at, summary FROM 'catalog/evidence.parquet'"
    duckdb -c "SELECT version_id, environment, approval_status, metrics FROM 'catalog/versions.parquet'"
    duckdb -c "SELECT r.request_id, d.actor, d.kind, d.comment, d.ledger_hash
               FROM 'catalog/decisions.parquet' d JOIN 'catalog/promotion_requests.parquet' r USING (request_id)"

Every evidence id printed in the report is a row of `catalog/evidence.parquet` and a file under `evidence/`.

## 4. Re-verify the ledger slice

`ledger/entries.parquet` holds entries {ledger_range} unmodified. Each entry's hash is the sha256 of its fields joined
by newlines, and each entry stores the previous entry's hash. This query must return no row:

    duckdb -c "SELECT seq FROM 'ledger/entries.parquet' e
      WHERE sha256(concat(seq::VARCHAR, chr(10), strftime(recorded_at, '%Y-%m-%dT%H:%M:%S.%f'), chr(10), actor,
              chr(10), action, chr(10), coalesce(subject, ''), chr(10), prev_hash, chr(10), payload)) <> hash
         OR prev_hash <> coalesce((SELECT hash FROM 'ledger/entries.parquet' p WHERE p.seq = e.seq - 1), prev_hash)"

The checkpoint files in `ledger/` state the ledger length and head hash at a moment, signed with the workspace's
Ed25519 key (`ledger/ledger-ed25519.pub.pem`). The entry whose `seq` equals a checkpoint's `length` must carry its
`head_hash`. A checkpoint's signature covers its other fields as compact JSON with sorted keys:

```python
import base64, glob, json
from cryptography.hazmat.primitives.serialization import load_pem_public_key

key = load_pem_public_key(open("ledger/ledger-ed25519.pub.pem", "rb").read())
for name in sorted(glob.glob("ledger/ledger-*.json")):
    doc = json.load(open(name))
    signature = base64.b64decode(doc.pop("signature"))
    key.verify(signature, json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    print(name, "signature OK", doc["length"], doc["head_hash"])
```

In the workspace itself, `countersign ledger verify` does all of this.

## 5. What was in each environment at an instant (registry history)

`history/version_history.parquet` holds every state each version of the model had (approval status, labels,
environment, model card) from `valid_from` to `valid_to` (UTC, half-open; an open state has no `valid_to`);
`time_source` says whether the time is the registry's own (`source`) or the sync's that saw it (`sync`).
`history/deployment_history.parquet` holds the deployments serving them the same way; `history/history_gaps.parquet`
the periods nobody observed the registry (a failed sync, a long pause): the state inside a gap is not known. Each
state names the sync that saw it (`sync_id`), that sync's ledger entry (`ledger_seq`, `ledger_hash`) and the
promotion request that caused it (`request_id`), when Countersign did. In MLflow and ZenML the registry label an
account maps to an environment is the deployment (an alias such as `champion`, a stage such as `production`):
`history/label_environments.parquet` lists those labels (the mapping as configured when the pack was built).

The state as of an instant, the same answer as `countersign models --as-of` (run it in the unzipped folder; put
the instant in UTC). `serving_labels` names the label a version held as its environment's deployment, so
`WHERE list_contains(serving_labels, 'champion')` answers which version held `champion` then;
`approved_in_countersign` says whether an executed promotion in `ledger/entries.parquet` put it there by then:

```sql
SET VARIABLE as_of = TIMESTAMP '2026-03-14 09:30:00';
{as_of_sql};
```
"""


def _catalog_members(settings: Settings, catalog: Catalog, model: str, version_ids: list[str]) -> dict[str, bytes]:
    """The pack's catalog tables, evidence documents and history tables of ``model``."""
    members: dict[str, bytes] = {}
    for table in CATALOG_TABLES:
        df = _table_rows(catalog, table, model, version_ids)
        members[f"catalog/{table}.parquet"] = _parquet(df)
        if table == "evidence":
            for row in df.to_dict("records"):
                doc = {k: (json.loads(v) if k in ("result", "summary", "software", "inputs") and isinstance(v, str)
                           else v) for k, v in row.items()}
                members[f"evidence/{row['kind']}-{row['evidence_id']}.json"] = (
                    json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
                ).encode()
    history = catalog.history_rows(model)
    for table, df in history.items():
        members[f"history/{table}.parquet"] = _parquet(df)
    members[f"history/{LABEL_ENVIRONMENTS}.parquet"] = _label_environments(settings, history["version_history"])
    return members


def _ledger_members(workspace: Workspace, catalog: Catalog, model: str,
                    version_ids: list[str]) -> tuple[dict[str, bytes], tuple[int, int] | None]:
    """The ledger entries about ``model`` (Parquet and JSON lines), the checkpoints covering them and the ledger's
    public key, with the range of sequence numbers included."""
    members: dict[str, bytes] = {}
    requests = _table_rows(catalog, "promotion_requests", model, version_ids)
    needles = sorted({*version_ids, *requests["request_id"].astype(str).tolist(), model})
    ledger = _ledger_slice(catalog, needles)
    ledger_range = (int(ledger["seq"].min()), int(ledger["seq"].max())) if len(ledger) else None
    members["ledger/entries.parquet"] = _parquet(ledger)
    lines = [canonical_json({k: (v.to_pydatetime() if hasattr(v, "to_pydatetime") else v) for k, v in row.items()})
             for row in ledger.to_dict("records")]
    members["ledger/entries.jsonl"] = ("\n".join(lines) + ("\n" if lines else "")).encode()
    if workspace.checkpoints_dir.is_dir():
        for p in sorted(workspace.checkpoints_dir.glob("ledger-*.json")):
            try:
                length = int(json.loads(p.read_text(encoding="utf-8"))["length"])
            except (ValueError, KeyError, TypeError):
                continue
            if ledger_range is None or length >= ledger_range[0]:
                members[f"ledger/{p.name}"] = p.read_bytes()
    pub = workspace.keys_dir / "ledger-ed25519.pub.pem"
    if pub.exists():
        members["ledger/ledger-ed25519.pub.pem"] = pub.read_bytes()
    return members, ledger_range


def build_pack(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    identity: Identity,
    version_id: str,
    template_id: str = DEFAULT_TEMPLATE,
    *,
    out: Path | None = None,
    passphrase: bytes | None = None,
    progress: ProgressFn = no_progress,
) -> AuditPack:
    """Write the audit pack of ``version_id`` (signed report, evidence, catalog snapshot, ledger slice)."""
    t0 = time.perf_counter()
    require(identity, "export")

    def sub(message: str, fraction: float) -> None:
        progress(message, fraction * 0.6)

    report = export_report(workspace, settings, catalog, identity, version_id, template_id, sign=True,
                           passphrase=passphrase, progress=sub, archive=True)
    progress("snapshotting the catalog", 0.65)
    version = catalog.version(version_id)
    model = version.model
    version_ids = [v.version_id for v in catalog.versions_of(model)]
    members: dict[str, bytes] = {}
    report_name = f"report/{default_filename(version_id, template_id)}"
    members[report_name] = report.pdf
    html_name = f"report/{default_filename(version_id, template_id, '.html')}" if report.html is not None else None
    if html_name is not None and report.html is not None:
        members[html_name] = report.html
    if report.certificate_pem:  # the signer's own certificate, or the organisation seal's
        members["report/signing-cert.pem"] = report.certificate_pem

    members.update(_catalog_members(settings, catalog, model, version_ids))
    progress("copying the ledger slice and checkpoints", 0.8)
    ledger_members, ledger_range = _ledger_members(workspace, catalog, model, version_ids)
    members.update(ledger_members)

    members["README.md"] = README.format(
        version_id=version_id, organisation=settings.workspace.name, who=identity.label, template=report.template_id,
        template_version=report.template_version, report_sha256=report.sha256, report_name=report_name,
        html_name=html_name or "(none)", html_sha256=report.html_sha256 or "-",
        ledger_range=(f"{ledger_range[0]} to {ledger_range[1]}" if ledger_range else "(none)"),
        countersign_version=__version__, as_of_sql=as_of_sql_for_files("history"),
    ).encode()
    members["manifest.json"] = (json.dumps(
        {"countersign_version": __version__, "version_id": version_id, "template": report.template_id,
         "template_version": report.template_version, "report": report_name, "report_sha256": report.sha256,
         "report_html": html_name, "report_html_sha256": report.html_sha256,
         "ledger_range": list(ledger_range) if ledger_range else None, "organisation": settings.workspace.name},
        indent=2, sort_keys=True) + "\n").encode()
    from governance.retention import pack_retention  # until when each file must be kept ([policy.retention])

    built_on = (report.built_at or dt.datetime.now(dt.UTC)).date()
    members["RETENTION.json"] = (json.dumps(pack_retention(settings, members, built_on), indent=2, sort_keys=True)
                                 + "\n").encode()
    files = tuple(PackFile(n, hashlib.sha256(b).hexdigest(), len(b)) for n, b in sorted(members.items()))
    members["SHA256SUMS"] = "".join(f"{f.sha256}  {f.name}\n" for f in files).encode()

    progress("writing the zip", 0.9)
    # without ``out`` the pack is kept in exports/ under a name carrying its digest (never replacing an earlier one)
    target = Path(out) if out is not None else workspace.exports_dir / default_filename(version_id, template_id, ".zip")
    stamp = ZIP_EPOCH
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name])
    content = buffer.getvalue()
    digest = hashlib.sha256(content).hexdigest()
    path = target if out is not None else archive_path(workspace, version_id, template_id, content, ".zip")
    tmp = stage(path, content)  # owner-only (0600); moved into place with its ledger entry
    seq, entry_hash = record_export(
        workspace, catalog, identity, "pack.export", version_id,
        {"template": report.template_id, "file": path.name, "sha256": digest, "report_sha256": report.sha256,
         "files": len(files) + 1, "ledger_range": list(ledger_range) if ledger_range else None},
        staged=tmp, path=path,
    )
    progress("done", 1.0)
    return AuditPack(path=path, sha256=digest, files=files, report=report, ledger_range=ledger_range,
                     ledger_seq=seq, ledger_hash=entry_hash, seconds=time.perf_counter() - t0)


def read_sums(data: bytes) -> dict[str, str]:
    """Parse a SHA256SUMS file into name → sha256."""
    out: dict[str, Any] = {}
    for line in data.decode().splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            out[name] = digest
    return out
