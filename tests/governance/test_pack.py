"""Audit packs: checksums, Parquet snapshots that open in DuckDB, the ledger slice, the signed report, the ledger entry."""

from __future__ import annotations

import hashlib
import html
import json
import re
import zipfile
from pathlib import Path

import duckdb
import pytest

from core.errors import AccessDenied
from governance.config import Workspace
from governance.reports.pack import build_pack, read_sums
from governance.reports.sign import verify_pdf
from governance.reports.template_library import load_template
from tests.governance.report_world import (
    AUDITOR,
    BIASED,
    SCIENTIST,
    add_bias,
    add_decisions,
    add_drift,
    open_world,
)


@pytest.fixture(scope="module")
def packed(demo_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):
    import shutil

    target = tmp_path_factory.mktemp("pack") / "ws"
    shutil.copytree(demo_workspace.root, target)
    w = open_world(Workspace(target))
    add_drift(w, BIASED)
    add_bias(w, BIASED)
    add_decisions(w, BIASED)
    out = target.parent / "pack.zip"
    pack = build_pack(w.workspace, w.settings, w.catalog, w.who(AUDITOR), BIASED, "sr-11-7", out=out)
    extracted = target.parent / "unzipped"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(extracted)
    return w, pack, extracted


def test_sha256sums_list_and_match_every_file(packed) -> None:
    _w, pack, root = packed
    sums = read_sums((root / "SHA256SUMS").read_bytes())
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert sorted(sums) == [f for f in files if f != "SHA256SUMS"]
    for name, digest in sums.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name
    assert pack.sha256 == hashlib.sha256(pack.path.read_bytes()).hexdigest()


def test_a_changed_file_no_longer_matches_its_checksum(packed, tmp_path: Path) -> None:
    _w, pack, _root = packed
    with zipfile.ZipFile(pack.path) as zf:
        sums = read_sums(zf.read("SHA256SUMS"))
        data = bytearray(zf.read("catalog/versions.parquet"))
    data[len(data) // 2] ^= 0x01
    assert hashlib.sha256(bytes(data)).hexdigest() != sums["catalog/versions.parquet"]


def test_parquet_snapshot_opens_in_duckdb_and_matches_the_catalog(packed) -> None:
    w, _pack, root = packed
    con = duckdb.connect()
    versions = con.execute(f"SELECT version_id FROM '{root}/catalog/versions.parquet' ORDER BY 1").fetchall()
    expected = sorted(v.version_id for v in w.catalog.versions_of("credit-approval"))
    assert [r[0] for r in versions] == expected
    ev = con.execute(f"SELECT kind, evidence_id FROM '{root}/catalog/evidence.parquet' ORDER BY 1").fetchall()
    assert {"bias", "drift"} <= {k for k, _ in ev}
    for kind, evidence_id in ev:
        assert (root / "evidence" / f"{kind}-{evidence_id}.json").exists()
    n_dec = con.execute(f"SELECT count(*) FROM '{root}/catalog/decisions.parquet' WHERE request_id = 'R-test-1'").fetchone()
    assert n_dec[0] == 3
    for table in ("models", "runs", "deployments", "model_cards", "promotion_requests"):
        con.execute(f"SELECT * FROM '{root}/catalog/{table}.parquet'").fetchall()
    # only this model's rows travel in the pack
    assert con.execute(f"SELECT DISTINCT model FROM '{root}/catalog/deployments.parquet'").fetchall() == [
        ("credit-approval",)]


def test_the_readme_ledger_query_finds_no_broken_entry_and_the_checkpoint_matches(packed) -> None:
    _w, pack, root = packed
    readme = (root / "README.md").read_text(encoding="utf-8")
    query = re.search(r'duckdb -c "(SELECT seq FROM .ledger/entries.parquet. e.*?)"', readme, re.S).group(1)
    con = duckdb.connect()
    bad = con.execute(query.replace("'ledger/", f"'{root}/ledger/")).fetchall()
    entries = con.execute(f"SELECT seq, hash FROM '{root}/ledger/entries.parquet' ORDER BY seq").fetchall()
    assert entries and bad == []
    assert pack.ledger_range == (entries[0][0], entries[-1][0])
    heads = dict(entries)
    import json

    checkpoints = sorted(root.glob("ledger/ledger-*.json"))
    assert checkpoints and (root / "ledger" / "ledger-ed25519.pub.pem").exists()
    for cp in checkpoints:
        doc = json.loads(cp.read_text())
        if doc["length"] in heads:
            assert heads[doc["length"]] == doc["head_hash"]


def test_the_readme_checkpoint_check_runs_and_catches_a_forged_checkpoint(packed, tmp_path: Path) -> None:
    import json
    import os
    import shutil
    import subprocess
    import sys

    _w, _pack, root = packed
    readme = (root / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    copy = tmp_path / "pack"
    shutil.copytree(root, copy)
    ok = subprocess.run([sys.executable, "-c", snippet], cwd=copy, capture_output=True, text=True, timeout=60,
                        env={**os.environ, "PYTHONPATH": ""})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("signature OK") == len(list(copy.glob("ledger/ledger-*.json"))) > 0
    forged = sorted(copy.glob("ledger/ledger-*.json"))[-1]
    doc = json.loads(forged.read_text())
    doc["length"] += 1
    forged.write_text(json.dumps(doc))
    bad = subprocess.run([sys.executable, "-c", snippet], cwd=copy, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "InvalidSignature" in bad.stderr


def test_an_edited_ledger_row_is_found_by_the_readme_query(packed, tmp_path: Path) -> None:
    _w, _pack, root = packed
    readme = (root / "README.md").read_text(encoding="utf-8")
    query = re.search(r'duckdb -c "(SELECT seq FROM .ledger/entries.parquet. e.*?)"', readme, re.S).group(1)
    con = duckdb.connect()
    edited = tmp_path / "entries.parquet"
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN seq = (SELECT max(seq) FROM '{root}/ledger/entries.parquet') "
                f"THEN replace(payload, 'a', 'b') ELSE payload END AS payload) "
                f"FROM '{root}/ledger/entries.parquet') TO '{edited}' (FORMAT parquet)")
    bad = con.execute(query.replace("'ledger/entries.parquet'", f"'{edited}'")).fetchall()
    assert len(bad) >= 1


def test_the_pdf_in_the_pack_is_signed_and_verifies(packed) -> None:
    _w, pack, root = packed
    pdfs = list((root / "report").glob("*.pdf"))
    assert len(pdfs) == 1 and hashlib.sha256(pdfs[0].read_bytes()).hexdigest() == pack.report.sha256
    result = verify_pdf(pdfs[0].read_bytes(), trust=(root / "report" / "signing-cert.pem",))
    assert result.ok


def test_pack_is_a_ledger_entry_and_the_ledger_still_verifies(packed) -> None:
    from governance import ledger

    w, pack, _root = packed
    entries = {e.hash: e for e in ledger.entries_for(w.catalog, f"version:{BIASED}")}
    entry = entries[pack.ledger_hash]
    assert entry.action == "pack.export" and entry.payload["sha256"] == pack.sha256
    assert entry.actor == AUDITOR and entry.payload["report_sha256"] == pack.report.sha256
    report_entry = entries[pack.report.ledger_hash]
    assert report_entry.action == "report.export" and report_entry.seq < entry.seq
    assert ledger.verify(w.workspace, w.catalog, w.who(AUDITOR)).ok


def test_pack_needs_the_export_role(packed, tmp_path: Path) -> None:
    w, _pack, _root = packed
    with pytest.raises(AccessDenied):
        build_pack(w.workspace, w.settings, w.catalog, w.who(SCIENTIST), BIASED, out=tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def test_cli_pack(packed, tmp_path: Path, capsys) -> None:
    from countersign_cli.main import main

    w, _pack, _root = packed
    out = tmp_path / "p.zip"
    code = main(["pack", "--workspace", str(w.workspace.root), "--actor", AUDITOR, "--model", "credit-approval",
                 "--version", "3", "--environment", "staging", "--out", str(out)])
    assert code == 0 and zipfile.ZipFile(out).testzip() is None
    assert str(out) in capsys.readouterr().out


def test_the_manifest_and_the_report_metadata_name_the_countersign_version(packed) -> None:
    import json

    from pypdf import PdfReader

    from governance import __version__

    _w, pack, root = packed
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["countersign_version"] == __version__
    assert manifest["version_id"] == BIASED and manifest["report_sha256"] == pack.report.sha256
    assert (root / manifest["report"]).is_file()
    assert f"Built by Countersign {__version__} for" in (root / "README.md").read_text(encoding="utf-8")
    info = PdfReader(root / manifest["report"]).metadata
    assert info["/Creator"] == f"Countersign {__version__}"


def test_the_readme_as_of_query_on_the_unzipped_parquet_gives_the_catalog_answer(packed, monkeypatch) -> None:
    import datetime as dt

    w, _pack, root = packed
    model = w.catalog.version(BIASED).model
    readme = (root / "README.md").read_text()
    (sql,) = re.findall(r"```sql\n(.*?)```", readme, flags=re.S)
    history = duckdb.connect().execute("SELECT min(valid_from), max(valid_from) FROM "
                                       f"'{root}/history/version_history.parquet'").fetchone()
    assert history[0] is not None, "the pack carries no history rows"
    monkeypatch.chdir(root)
    for instant in (history[0] - dt.timedelta(seconds=1), history[0], history[1],
                    dt.datetime.now(dt.UTC).replace(tzinfo=None)):
        offline = duckdb.connect()
        statements = sql.replace("TIMESTAMP '2026-03-14 09:30:00'", f"TIMESTAMP '{instant.isoformat(sep=' ')}'")
        first, query = statements.split(";", 1)
        offline.execute(first)
        got = offline.execute(query.strip().rstrip(";")).df()
        want = w.catalog.as_of(instant)
        want = want[want["model"] == model].reset_index(drop=True)
        cols = ["version_id", "environment", "approval_status", "deployed_on", "valid_from", "in_gap"]
        assert got[cols].astype(str).values.tolist() == want[cols].astype(str).values.tolist(), instant
    # today, from the ledger slice alone: the prod version an executed promotion put there, and no other
    approved = set(got.loc[got["approved_in_countersign"], "version_id"])
    executed = w.catalog.query_df("SELECT target_version_id FROM promotion_requests WHERE status = 'executed' "
                                  "AND model = ?", [model])["target_version_id"]
    assert approved == set(executed) and approved, approved


def test_the_report_carries_the_version_history(packed) -> None:
    from tests.governance.report_world import pdf_text

    w, pack, _root = packed
    text = pdf_text(pack.report.pdf)
    first = w.catalog.version_history(BIASED).iloc[0]
    assert "Registry history" in text
    assert first["sync_id"] in "".join(text.split())


def test_the_pack_carries_the_html_report_whose_sha256_the_ledger_records(packed) -> None:
    from governance import ledger

    w, pack, root = packed
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    html_file = root / manifest["report_html"]
    assert manifest["report_html"] == "report/lab-staging_credit-approval_3__sr-11-7.html"
    digest = hashlib.sha256(html_file.read_bytes()).hexdigest()
    assert digest == manifest["report_html_sha256"] == pack.report.html_sha256
    assert read_sums((root / "SHA256SUMS").read_bytes())[manifest["report_html"]] == digest
    # the same file as the one kept beside the signed PDF, recorded in the report's export entry
    entry = next(e for e in ledger.entries_for(w.catalog, f"version:{BIASED}")
                 if e.action == "report.export" and e.payload["sha256"] == pack.report.sha256)
    assert entry.payload["html_sha256"] == digest
    assert (w.workspace.exports_dir / entry.payload["html_file"]).read_bytes() == html_file.read_bytes()
    assert manifest["report_html"] in (root / "README.md").read_text(encoding="utf-8")
    title = html.escape(load_template("sr-11-7").title)
    assert f"<h1>{title}</h1>" in html_file.read_text(encoding="utf-8")
