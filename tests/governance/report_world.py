"""Helpers for the report tests: real evidence, decisions and ledger entries in a copy of the demo workspace.

Evidence is computed by the analytics engines on the demo's own data files and stored with fixed dates, so the
report built from it is reproducible; the tests compare what the PDF prints with independent oracles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.canonical import canonical_json
from governance.catalog import Catalog
from governance.config import Settings, Workspace, load_settings
from governance.identity import Identity, identity_for
from governance.sources import version_file

BIASED = "lab-staging:credit-approval:3"  # planted: fails the four-fifths rule on gender
DRIFTED = "lab-prod:claims-fraud:2"  # planted: current data drifted on claim_amount and vehicle_age only
OFFICER = "risk.officer@demo.countersign.dev"
VALIDATOR = "validator@demo.countersign.dev"
AUDITOR = "auditor@demo.countersign.dev"
ENGINEER = "ml.engineer@demo.countersign.dev"
SCIENTIST = "data.scientist@demo.countersign.dev"
EVIDENCE_AT = dt.datetime(2026, 6, 1, 9, 30, 0)


@dataclass(frozen=True)
class World:
    """An opened workspace for report tests."""

    workspace: Workspace
    settings: Settings
    catalog: Catalog

    def who(self, email: str) -> Identity:
        return identity_for(self.settings, email, source="cli")


def open_world(ws: Workspace) -> World:
    """Open a workspace (migrated) for tests."""
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    return World(ws, load_settings(ws), catalog)


def frame(world: World, version_id: str, key: str) -> pd.DataFrame:
    """One dataset of a version as a DataFrame."""
    path = version_file(world.workspace, world.settings, world.catalog.version(version_id), key)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def store_evidence(world: World, version_id: str, kind: str, result: dict, summary: dict,
                   at: dt.datetime = EVIDENCE_AT) -> str:
    """Insert one evidence row (as the analytics package stores it) and return its id."""
    body = canonical_json([kind, version_id, result])
    evidence_id = f"ev-{kind}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"
    with world.catalog.transaction() as con:
        con.execute(
            "INSERT INTO evidence (evidence_id, kind, version_id, input_hash, config_hash, result, summary, software, "
            "inputs, computed_at, computed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [evidence_id, kind, version_id, hashlib.sha256(body.encode()).hexdigest(),
             hashlib.sha256(kind.encode()).hexdigest(), canonical_json(result), canonical_json(summary),
             canonical_json({"countersign": "test"}), canonical_json({"version_id": version_id}), at, SCIENTIST],
        )
    return evidence_id


def add_drift(world: World, version_id: str) -> dict:
    """Drift of the version's current data against its reference, by the analytics engine; returns the result."""
    from governance.analytics.drift import DriftConfig, drift_files

    ref = frame(world, version_id, "reference")
    cur = frame(world, version_id, "current")
    res = drift_files(ref, cur, DriftConfig(exclude=("label",)))
    d = res.to_dict()
    for c in d["columns"]:
        c.pop("chart", None)  # histogram data for the page; not needed to print the table
    store_evidence(world, version_id, "drift", d, res.summary().to_json())
    return d


def add_bias(world: World, version_id: str) -> dict:
    """Bias of the version's validation predictions by the analytics engine; returns the result dict."""
    from governance.analytics.bias import BiasConfig, bias_file

    data = frame(world, version_id, "validation")
    cfg = world.settings.models[world.catalog.version(version_id).model]
    res = bias_file(data, BiasConfig(label="label", protected=tuple(cfg.protected_attributes),
                                     prediction="prediction", positive_label=cfg.positive_label))
    d = res.to_dict()
    store_evidence(world, version_id, "bias", d, res.summary().to_json())
    return d


def add_explain(world: World, version_id: str, importance: dict[str, float]) -> None:
    """An explainability evidence row with the given global importance, in the analytics result's shape."""
    from governance.analytics.explain import ExplainResult

    top = sorted(importance, key=lambda k: -importance[k])
    res = ExplainResult(explainer="tree", output="log-odds", features=tuple(top), n_rows=500, background_rows=100,
                        importance=tuple((k, importance[k]) for k in top), group_importance={}, local={},
                        additivity_max_error=1e-9, seconds=0.1)
    store_evidence(world, version_id, "explain", res.to_dict(), res.summary().to_json())


def add_decisions(world: World, version_id: str, *, seal: bool = True) -> dict[str, str]:
    """A promotion request, an approval and a risk acceptance, each with its ledger entry; then a checkpoint."""
    from governance import ledger

    v = world.catalog.version(version_id)
    request_id = "R-test-1"
    at = dt.datetime(2026, 6, 2, 10, 0, 0)
    with world.catalog.transaction() as con:
        e_req = ledger.append(con, actor=ENGINEER, action="request.create", subject=f"request:{request_id}",
                              payload={"version_id": version_id, "to_env": "prod", "approvals_required": 2},
                              at=at)
        con.execute(
            "INSERT INTO promotion_requests (request_id, version_id, model, from_env, to_env, requester, reason, "
            "status, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [request_id, version_id, v.model, v.environment, "prod", ENGINEER, "quarterly refresh", "approved", at,
             json.dumps({"gates": [{"gate": "fairness", "status": "fail", "message": "disparate impact low"}]})],
        )
    hashes = {"request": e_req.hash}
    for i, (who, kind, comment) in enumerate(
        [(OFFICER, "accept_risk", "Gender gap accepted until the Q3 retrain; monitored monthly."),
         (OFFICER, "approve", "Approved with the documented risk acceptance."),
         (VALIDATOR, "approve", "Independent validation concurs.")]
    ):
        when = at + dt.timedelta(hours=i + 1)
        with world.catalog.transaction() as con:
            e = ledger.append(con, actor=who, action=f"request.{kind}", subject=f"request:{request_id}",
                              payload={"comment": comment}, at=when)
            con.execute(
                "INSERT INTO decisions (decision_id, request_id, actor, kind, comment, created_at, payload, ledger_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [f"D-test-{i}", request_id, who, kind, comment, when, json.dumps({"gates": ["fairness"]}), e.hash],
            )
        hashes[f"{kind}-{i}"] = e.hash
    if seal:
        ledger.seal(world.workspace, world.catalog, by=AUDITOR)
    return hashes


def pdf_text(data: bytes | Path) -> str:
    """All text of a PDF, pages joined, whitespace collapsed (pypdf)."""
    import io

    from pypdf import PdfReader

    raw = data.read_bytes() if isinstance(data, Path) else data
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(raw)).pages)
    return " ".join(text.split())


def four(x: float) -> str:
    """A number as the report prints it: four decimals, trailing zeros dropped; 4 significant digits below 0.001,
    "< 0.0001" below that."""
    if x != 0 and abs(x) < 1e-4:
        return "< 0.0001" if x > 0 else "> -0.0001"
    if x != 0 and abs(x) < 1e-3:
        return f"{x:.7f}".rstrip("0")  # four significant digits, written out
    return f"{x:.4f}".rstrip("0").rstrip(".")
