"""The continuous binding check on the folder registry (real files, real DuckDB): a version serving in prod whose
artifact is no longer the one its Countersign approval bound is flagged, in plain words, wherever deployments show.

The demo's claims-fraud v2 reached prod through an executed Countersign promotion whose request froze the artifact's
sha256. Replacing the file in the prod registry (and syncing, as the scheduler would) changes the catalog's digest.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from countersign_cli.main import main
from governance.catalog import Catalog
from governance.config import Workspace, load_settings

CLAIMS, REPAIR = "lab-prod:claims-fraud:2", "lab-prod:repair-cost:2"


def models(root, capsys) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["models", "--workspace", str(root), "--json"]) == 0
    return {v["version_id"]: v for v in json.loads(capsys.readouterr().out)["versions"]}


def frozen_digest(catalog: Catalog, version_id: str) -> str:
    """The sha256 the executed request that put ``version_id`` in prod froze, as its ledger entry records it."""
    request = catalog.query_df("SELECT request_id FROM promotion_requests WHERE target_version_id = ? "
                               "AND status = 'executed'", [version_id])["request_id"][0]
    created = catalog.query_df("SELECT payload FROM ledger WHERE action = 'request.create' AND subject = ?",
                               [f"request:{request}"])["payload"][0]
    return json.loads(created)["artifact_sha256"]


@pytest.fixture
def swapped(demo_copy: Workspace) -> tuple[Workspace, str, str]:
    """claims-fraud v2's artifact in prod replaced by other bytes, synced: (workspace, approved, now) digests."""
    catalog = Catalog(demo_copy.catalog_path)
    approved = frozen_digest(catalog, CLAIMS)
    artifact = next((demo_copy.root / "registry" / "prod" / "claims-fraud" / "2").glob("model.*"))
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == approved  # the demo as approved
    artifact.write_bytes(b"another model altogether")
    now = hashlib.sha256(b"another model altogether").hexdigest()  # the oracle: hashlib on the bytes written
    assert main(["sync", "--workspace", str(demo_copy.root)]) == 0
    return demo_copy, approved, now


def test_an_artifact_changed_after_approval_is_flagged_with_both_digests(swapped, capsys) -> None:
    ws, approved, now = swapped
    row = models(ws.root, capsys)[CLAIMS]
    assert row["flag"] == "artifact changed since approval", row
    assert row["flag_reason"] == (f"serves on endpoint claims-fraud-prod (prod) but its artifact changed since "
                                  f"approval ({_request(ws)}): sha256 {approved[:12]}… approved, {now[:12]}… now")
    capsys.readouterr()
    assert main(["monitor", "--workspace", str(ws.root)]) == 1
    out = capsys.readouterr().out
    assert "UNAPPROVED DEPLOYMENTS 2:" in out and f"! {CLAIMS} (prod) serves on endpoint claims-fraud-prod" in out
    assert f"! {REPAIR} (prod)" in out  # the demo's planted deployment nobody approved


def test_the_report_states_the_binding_check_in_its_deployment_section(swapped) -> None:
    from governance.identity import identity_for
    from governance.reports.export import export_report
    from tests.governance.report_world import AUDITOR, pdf_text

    ws, approved, _now = swapped
    settings = load_settings(ws)
    report = export_report(ws, settings, Catalog(ws.catalog_path), identity_for(settings, AUDITOR, source="cli"),
                           CLAIMS, "sr-11-7", sign=False)
    text = pdf_text(report.pdf)
    # claims-fraud serves v3 in staging (approved in the registry) and v2 in prod: the prod one fails
    assert "1 of 2 version(s) in use fail it as of this report" in text
    assert (f"FLAGGED: serves on endpoint claims-fraud-prod (prod) but its artifact changed since approval "
            f"({_request(ws)}): sha256 {approved[:12]}") in text


def test_a_digest_gone_where_the_approval_bound_one_is_flagged(demo_copy: Workspace, capsys) -> None:
    # a registry whose artifact can no longer be read leaves the version without a digest (the catalog's column
    # empty): set here directly, since the folder registry always hashes the file it lists
    catalog = Catalog(demo_copy.catalog_path)
    approved = frozen_digest(catalog, CLAIMS)
    with catalog.transaction() as con:
        con.execute("UPDATE versions SET artifact_sha256 = NULL WHERE version_id = ?", [CLAIMS])
    row = models(demo_copy.root, capsys)[CLAIMS]
    assert row["flag"] == "artifact changed since approval"
    assert row["flag_reason"].endswith(f"sha256 {approved[:12]}… approved, none now")


def _request(ws: Workspace) -> str:
    return Catalog(ws.catalog_path).query_df(
        "SELECT request_id FROM promotion_requests WHERE target_version_id = ? AND status = 'executed'",
        [CLAIMS])["request_id"][0]
