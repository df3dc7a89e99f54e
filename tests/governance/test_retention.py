"""Retention: keep periods per artefact in the policy; nothing under retention can be purged; the audit pack says
until when each of its files must be kept."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import zipfile

import pytest

from core.errors import AccessDenied, ConflictError, InputError
from countersign_cli.main import main
from governance import ledger, retention
from governance.catalog import Catalog
from governance.config import Workspace, load_settings, parse_settings
from governance.context import Context
from governance.identity import identity_for

D = "demo.countersign.dev"


def ctx_as(ws: Workspace, who: str) -> Context:
    settings = load_settings(ws)
    return Context(ws, settings, Catalog(ws.catalog_path), identity_for(settings, f"{who}@{D}", source="cli"))


def test_periods_come_from_the_policy_and_logs_never_under_six_months() -> None:
    settings = parse_settings({})
    assert retention.period_days(settings, "documentation") == 3653  # Art. 18: 10 years
    assert retention.period_days(settings, "logs") == 183  # Art. 19 / 26(6): at least 6 months
    assert retention.keep_until(settings, "documentation", dt.date(2026, 12, 1)) == dt.date(2036, 12, 1)
    with pytest.raises(Exception, match="logs_days: must be at least 183"):
        parse_settings({"policy": {"retention": {"logs_days": 90}}})


def test_nothing_under_retention_can_be_purged_and_an_expired_file_is_purged_and_recorded(demo_copy) -> None:
    admin = ctx_as(demo_copy, "admin")
    cached = next(p for p in demo_copy.cache_dir.rglob("*") if p.is_file())
    old = demo_copy.exports_dir / "old-report.pdf"
    old.write_bytes(b"%PDF-1.7 an old report")
    head = ledger.head(admin.catalog)
    with pytest.raises(ConflictError, match=r"under retention.*old-report.pdf.*until 20"):
        retention.purge(admin, [old, cached])
    assert old.exists() and cached.exists() and ledger.head(admin.catalog) == head  # nothing deleted, nothing written
    later = dt.datetime.now() + dt.timedelta(days=40)  # past the cache's 30 days, not the documentation's 10 years
    done = retention.purge(admin, [cached], now=later)
    assert not cached.exists() and done.files[0].kind == "cache"
    entry = ledger.entries_for(admin.catalog, "retention")[-1]
    assert entry.action == "retention.purge" and entry.payload["files"][0]["sha256"] == done.files[0].sha256


def test_a_backdated_export_is_kept_by_its_ledger_date(demo_copy) -> None:
    from governance.reports.export import export_report

    officer = ctx_as(demo_copy, "risk.officer")
    report = export_report(demo_copy, officer.settings, officer.catalog, officer.identity,
                           "lab-prod:credit-approval:1", "sr-26-2", archive=True)
    path = next(demo_copy.exports_dir.glob("*.pdf"))
    long_ago = (dt.datetime.now() - dt.timedelta(days=5000)).timestamp()
    os.utime(path, (long_ago, long_ago))  # the file claims to be 14 years old
    (row,) = [f for f in retention.workspace_files(ctx_as(demo_copy, "admin")) if f.path == path]
    assert row.created.date() == dt.date.today() and row.source == "ledger" and report.sha256
    with pytest.raises(ConflictError, match="under retention"):
        retention.purge(ctx_as(demo_copy, "admin"), [path])


@pytest.mark.parametrize(("who", "target", "error"), [
    ("risk.officer", "exports/x.pdf", AccessDenied),
    ("admin", "catalog.duckdb", InputError),
    ("admin", "checkpoints/head.json", InputError),
    ("admin", "../outside.txt", InputError),
])
def test_purge_is_an_admins_and_only_of_exports_checkpoints_and_cache(demo_copy, who, target, error) -> None:
    path = demo_copy.root / target
    with pytest.raises(error):
        retention.purge(ctx_as(demo_copy, who), [path])


def test_the_audit_pack_says_until_when_each_file_is_kept(demo_copy) -> None:
    from governance.reports.pack import build_pack

    auditor = ctx_as(demo_copy, "auditor")
    pack = build_pack(demo_copy, auditor.settings, auditor.catalog, auditor.identity, "lab-prod:credit-approval:1",
                      "sr-26-2", out=demo_copy.root / "pack.zip")
    with zipfile.ZipFile(io.BytesIO(pack.path.read_bytes())) as zf:
        doc = json.loads(zf.read("RETENTION.json"))
        names = set(zf.namelist())
        sums = zf.read("SHA256SUMS").decode()
    assert set(doc["files"]) == names - {"RETENTION.json", "SHA256SUMS"}
    report = next(n for n in doc["files"] if n.endswith(".pdf"))
    ten_years = dt.date.today() + dt.timedelta(days=3653)
    assert doc["files"][report]["kind"] == "documentation"
    assert doc["files"][report]["keep_until"] == ten_years.isoformat()
    assert "Art. 18" in doc["files"][report]["basis"]
    assert "RETENTION.json" in sums  # covered by the checksums like every other file
    assert {"catalog/incidents.parquet", "catalog/fallback_plans.parquet", "catalog/card_edits.parquet"} <= names


def test_cli_retention_list_and_purge(demo_copy, capsys) -> None:
    ws = str(demo_copy.root)
    assert main(["retention", "list", "--workspace", ws, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["files"]
    assert {r["kind"] for r in rows} >= {"documentation", "cache"}
    target = demo_copy.exports_dir / "kept.pdf"
    target.write_bytes(b"%PDF")
    assert main(["retention", "purge", str(target), "--workspace", ws, "--actor", f"admin@{D}"]) == 2
    assert "under retention" in capsys.readouterr().err and target.exists()
