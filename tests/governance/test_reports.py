"""Report PDFs: template sections, evidence numbers against independent oracles, gaps, determinism, rendering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from core.errors import AccessDenied, ConfigError, InputError, NotFound
from core.structs import replace
from governance.config import Workspace
from governance.reports.build import MISSING
from governance.reports.export import build_unsigned, export_report
from governance.reports.template_library import list_templates, load_template
from tests.governance.report_world import (
    AUDITOR,
    BIASED,
    OFFICER,
    SCIENTIST,
    add_bias,
    add_decisions,
    add_drift,
    add_explain,
    four,
    frame,
    open_world,
    pdf_text,
    store_evidence,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ("eu-ai-act-annex-iv", "sr-11-7", "sr-26-2", "pra-ss1-23")
BUILT_AT = dt.datetime(2026, 11, 30, 16, 45, 12)  # a build time given explicitly: same inputs and time, same bytes
IMPORTANCE = {"income": 0.3125, "debt_to_income": 0.2219, "loan_amount": 0.1187, "credit_history_years": 0.0412}


@pytest.fixture(scope="module")
def world(demo_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the demo with drift, bias and explainability evidence, decisions and a checkpoint for BIASED."""
    target = tmp_path_factory.mktemp("reports") / "ws"
    shutil.copytree(demo_workspace.root, target)
    w = open_world(Workspace(target))
    drift = add_drift(w, BIASED)
    bias = add_bias(w, BIASED)
    add_explain(w, BIASED, IMPORTANCE)
    hashes = add_decisions(w, BIASED)
    return w, drift, bias, hashes


@pytest.fixture(scope="module")
def annex(world):
    w = world[0]
    return build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, "eu-ai-act-annex-iv",
                          built_at=BUILT_AT)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_every_section_heading_of_the_template_is_in_the_pdf(world, template_id: str) -> None:
    w = world[0]
    built = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, template_id)
    text = pdf_text(built.pdf)
    template = load_template(template_id)
    for section in template.sections:
        assert section.title in text, section.title
    assert template.title in text and f"{template_id} version {template.version}" in text
    for heading in ("Contents", "Evidence gaps", "Summary of gate verdicts", "Appendix"):
        assert heading in text


def test_four_fifths_numbers_match_fairlearn(world, annex) -> None:
    from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio

    w = world[0]
    data = frame(w, BIASED, "validation")
    y, p = data["label"].astype(int), data["prediction"].astype(int)
    text = pdf_text(annex.pdf)
    verdict = {}
    for attribute in ("gender", "age_band"):
        ratio = demographic_parity_ratio(y, p, sensitive_features=data[attribute])
        diff = demographic_parity_difference(y, p, sensitive_features=data[attribute])
        row = re.search(rf"{attribute} {re.escape(four(ratio))} {re.escape(four(diff))} \S+ (PASS|FAIL)", text)
        assert row, (attribute, four(ratio), four(diff))
        verdict[attribute] = row.group(1)
    # the planted truth of the demo: gender fails the four-fifths rule, age band does not
    assert verdict == {"gender": "FAIL", "age_band": "PASS"}


def test_per_group_selection_rates_match_pandas(world, annex) -> None:
    w = world[0]
    data = frame(w, BIASED, "validation")
    rates = data.groupby("gender")["prediction"].mean()
    counts = data.groupby("gender").size()
    text = pdf_text(annex.pdf)
    for group in ("female", "male"):
        assert re.search(rf"{group} {counts[group]} .*?{re.escape(four(rates[group]))}", text), group


def test_metrics_hashes_evidence_ids_and_ledger_hashes_are_cited(world, annex) -> None:
    w, _drift, _bias, hashes = world
    v = w.catalog.version(BIASED)
    text = pdf_text(annex.pdf)
    flat = squeeze(text)
    for name, value in v.metrics.items():
        assert f"{name} {four(value)}" in text, name
    assert v.artifact_sha256 in flat
    ids = w.catalog.query_df("SELECT evidence_id FROM evidence WHERE version_id = ?", [BIASED])["evidence_id"]
    assert len(ids) == 3 and all(i in flat for i in ids)
    for h in hashes.values():
        if h != hashes["request"]:
            assert h in flat  # decisions print their ledger entry hash
    assert "Gender gap accepted until the Q3 retrain" in text  # the risk acceptance and its justification
    # the checkpoint that seals the last decision: the oldest one whose length reaches its entry
    last = w.catalog.query_df("SELECT seq FROM ledger WHERE hash = ?", [hashes["approve-2"]])["seq"].iloc[0]
    covering = min((json.loads(p.read_text())["length"], p.name, p)
                   for p in w.workspace.checkpoints_dir.glob("ledger-*.json")
                   if json.loads(p.read_text())["length"] >= last)
    assert hashlib.sha256(covering[2].read_bytes()).hexdigest() in flat


def test_dataset_hashes_match_the_files(world, annex) -> None:
    from governance.sources import version_file

    w = world[0]
    v = w.catalog.version(BIASED)
    flat = squeeze(pdf_text(annex.pdf))
    for key in v.data_uris:
        digest = hashlib.sha256(version_file(w.workspace, w.settings, v, key).read_bytes()).hexdigest()
        assert digest in flat, key


def test_drift_table_and_importance_are_printed(world, annex) -> None:
    _w, drift, _bias, _h = world
    text = pdf_text(annex.pdf)
    assert f"drift share {four(drift['drift_share'])}" in text  # keys in words (issue 35, finding 11)
    for col in drift["columns"]:
        row = f"{col['column']} {col['method']} {four(col['score'])} {four(col['threshold'])} {four(col['psi'])}"
        assert row in text, row
    for feature, value in IMPORTANCE.items():
        assert f"{feature} {four(value)}" in text
    # drift, importance, and selection rates for each protected attribute (gender, age band)
    assert annex.charts == 2 + 2 and annex.pages >= 10


def test_the_pdf_prints_gates_and_thresholds_in_words_without_raw_json(world, annex) -> None:
    """Issue 35, finding 11: the gate table printed raw keys (``dataset_drifted``, ``selection_rate``,
    ``min_metrics {"auc": 0.75}``) and 16-digit floats."""
    import re

    text = pdf_text(annex.pdf)
    assert "min_metrics" not in text and '{"' not in text and "selection_rate" not in text
    assert not re.search(r"\d\.\d{9,}", text), re.search(r".{40}\d\.\d{9,}.{20}", text)
    assert "minimum metrics" in text


def test_no_gap_for_evidence_that_exists_and_gaps_when_removed(world, demo_copy: Workspace) -> None:
    w = world[0]
    full = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED)
    assert not [g for g in full.gaps if "bias" in g.what or "drift" in g.what or "SHAP" in g.what]

    # the same version without any evidence: every evidence-backed block is a gap, visible and listed
    bare = open_world(demo_copy)
    built = build_unsigned(bare.workspace, bare.settings, bare.catalog, bare.who(OFFICER), BIASED)
    text = pdf_text(built.pdf)
    missing = {g.block for g in built.gaps}
    assert {"Data drift", "Discriminatory impact (four-fifths rule)", "Explainability (SHAP)",
            "Accuracy per group"} <= missing
    assert text.count(MISSING.strip()) >= len(built.gaps)
    found = re.search(r"(\d+) item\(s\) of evidence the template asks for were not found", text)
    assert found and int(found.group(1)) == len(built.gaps)
    gaps_page = text[found.start():text.index("Summary of gate verdicts", found.start())]
    assert "Data drift" in gaps_page and "Explainability (SHAP)" in gaps_page


def test_removing_one_evidence_row_adds_exactly_its_gaps(world, demo_copy: Workspace) -> None:
    w = open_world(demo_copy)
    add_bias(w, BIASED)
    add_explain(w, BIASED, IMPORTANCE)  # another row, so the test log is not emptied by the removal
    before = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED)
    with w.catalog.transaction() as con:
        con.execute("DELETE FROM evidence WHERE kind = 'bias'")
    after = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED)
    new = {g.block for g in after.gaps} - {g.block for g in before.gaps}
    assert new == {"Discriminatory impact (four-fifths rule)", "Bias metrics (SageMaker Clarify definitions)",
                   "Accuracy per group"}


def test_a_promoted_copy_cites_its_sources_bias_evidence_but_not_its_drift(demo_copy: Workspace) -> None:
    w = open_world(demo_copy)
    prod, staging = "lab-prod:claims-fraud:2", "lab-staging:claims-fraud:2"
    assert w.catalog.version(prod).source_version_id == staging
    assert w.catalog.version(prod).artifact_sha256 == w.catalog.version(staging).artifact_sha256
    with w.catalog.transaction() as con:
        con.execute("DELETE FROM evidence WHERE version_id IN (?, ?)", [prod, staging])
    add_bias(w, staging)
    store_evidence(w, staging, "drift", {"columns": [{"column": "claim_amount", "method": "wasserstein", "score": 0.01,
                                                     "threshold": 0.1, "psi": 0.0, "drifted": False}]},
                   {"drift_share": 0.0, "drifted_columns": []})
    built = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), prod)
    text = pdf_text(built.pdf)
    missing = {g.block for g in built.gaps}
    assert "Discriminatory impact (four-fifths rule)" not in missing
    assert f"for {staging}, which this version was promoted from (same artifact sha256)" in text
    # drift depends on each environment's own monitoring data: the staging result is not reused for prod
    assert "Data drift" in missing


def test_a_tier_without_gates_says_so_instead_of_reporting_the_verdicts_missing(demo_copy: Workspace) -> None:
    # a tier that sets no gate for the version's next step is a policy choice the report states, not a gap
    config = demo_copy.config_path
    text = config.read_text(encoding="utf-8")
    gates = "max_drift_share = 0.5\nmin_metrics = { r2 = 0.5 }\nmax_weighted_drift = 0.35\n"  # every gate of tier low
    low = text.index("[policy.tiers.low]")
    n = text.count(gates, low, text.index("[", low + 1))
    text = text[:low] + text[low:].replace(gates, "", 1)
    assert n == 1
    config.write_text(text, encoding="utf-8")
    w = open_world(demo_copy)
    built = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), "lab-dev:repair-cost:2")
    assert "Policy gate verdicts" not in {g.block for g in built.gaps}
    said = squeeze("No policy gate applies (policy gates of tier low for promotion into staging")
    assert said in squeeze(pdf_text(built.pdf))


_BUILD = """
import datetime as dt, hashlib, sys
from pathlib import Path
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.identity import identity_for
from governance.reports.export import build_unsigned
ws = Workspace(Path(sys.argv[1])); s = load_settings(ws)
b = build_unsigned(ws, s, Catalog(ws.catalog_path), identity_for(s, sys.argv[2], source="cli"), sys.argv[3], sys.argv[4],
                   built_at=dt.datetime.fromisoformat(sys.argv[5]))
print(hashlib.sha256(b.pdf).hexdigest())
"""


def test_two_builds_in_two_processes_are_byte_identical(world, annex) -> None:
    w = world[0]
    # two fresh interpreters at once (each opens the catalog read-only in turn; the catalog retries on the lock)
    procs = [
        subprocess.Popen([sys.executable, "-c", _BUILD, str(w.workspace.root), OFFICER, BIASED, "eu-ai-act-annex-iv",
                          BUILT_AT.isoformat()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(2)
    ]
    digests = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        digests.append(out.strip())
    assert digests[0] == digests[1] == hashlib.sha256(annex.pdf).hexdigest()


def test_the_build_time_is_printed_and_is_the_pdf_creation_date(world, annex, tmp_path: Path) -> None:
    w = world[0]
    text = pdf_text(annex.pdf)
    assert "Generated at 2026-11-30 16:45:12 UTC" in text  # the build time, not the newest record's date
    assert re.search(r"Records as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(newest record the report cites\)", text)
    if not shutil.which("pdfinfo"):
        pytest.skip("pdfinfo (Debian poppler-utils) is not installed: make system-deps")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(annex.pdf)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=60,
                          env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}).stdout
    assert re.search(r"CreationDate:\s+Mon Nov 30 16:45:12 2026 UTC", info), info
    assert re.search(r"ModDate:\s+Mon Nov 30 16:45:12 2026 UTC", info), info
    # another build time: other bytes (dates, document id); the same time again: the same bytes
    later = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, "eu-ai-act-annex-iv",
                           built_at=BUILT_AT + dt.timedelta(hours=1))
    assert later.pdf != annex.pdf and "Generated at 2026-11-30 17:45:12 UTC" in pdf_text(later.pdf)
    again = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, "eu-ai-act-annex-iv",
                           built_at=BUILT_AT)
    assert again.pdf == annex.pdf


def test_export_is_reproducible_and_recorded_in_the_ledger(world, tmp_path: Path) -> None:
    from governance import ledger

    w = world[0]
    first = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, sign=False,
                          out=tmp_path / "a.pdf", built_at=BUILT_AT)
    second = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, sign=False,
                           out=tmp_path / "b.pdf", built_at=BUILT_AT)
    # an export's own ledger entry does not change the next report
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    entries = [e for e in ledger.entries_for(w.catalog, f"version:{BIASED}") if e.action == "report.export"]
    assert [e.hash for e in entries[-2:]] == [first.ledger_hash, second.ledger_hash]
    assert entries[-1].payload["sha256"] == hashlib.sha256((tmp_path / "b.pdf").read_bytes()).hexdigest()
    assert entries[-1].actor == OFFICER
    assert ledger.verify(w.workspace, w.catalog, w.who(AUDITOR)).ok


def test_export_needs_the_export_role(world) -> None:
    w = world[0]
    with pytest.raises(AccessDenied, match="may not export"):
        export_report(w.workspace, w.settings, w.catalog, w.who(SCIENTIST), BIASED, sign=False)


def test_unknown_version_and_template_are_clear_errors(world) -> None:
    w = world[0]
    with pytest.raises(NotFound, match="unknown version"):
        build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), "lab-dev:nope:1")
    with pytest.raises(NotFound, match=r"unknown report template 'sox'.*eu-ai-act-annex-iv"):
        build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, "sox")


def test_templates_are_data_files_and_a_new_file_is_a_new_template(world, demo_copy: Workspace) -> None:
    assert [t.id for t in list_templates()] == sorted(TEMPLATES)
    w = open_world(demo_copy)
    (demo_copy.root / "templates").mkdir()
    (demo_copy.root / "templates" / "internal-audit.toml").write_text(
        '[template]\nid = "internal-audit"\ntitle = "Internal Audit Memo"\nversion = "0.1"\n'
        'regulation = "Group internal audit charter"\n\n'
        '[[sections]]\nnumber = "A"\nheading = "Scope"\nblocks = ["identity", "drift"]\n',
        encoding="utf-8",
    )
    assert "internal-audit" in [t.id for t in list_templates(demo_copy.root)]
    built = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, "internal-audit")
    text = pdf_text(built.pdf)
    assert "Internal Audit Memo" in text and "A. Scope" in text
    assert [g.block for g in built.gaps] == ["Data drift"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[template]\nid = "x"\ntitle = "X"\nversion = "1"\nregulation = "R"\n[[sections]]\nheading = "S"\n'
         'blocks = ["driftt"]\n', "unknown block 'driftt'"),
        ('[template]\nid = "x"\ntitle = "X"\nversion = "1"\n[[sections]]\nheading = "S"\nblocks = ["drift"]\n',
         "template.regulation: required"),
        ('[template]\nid = "y"\ntitle = "X"\nversion = "1"\nregulation = "R"\n[[sections]]\nheading = "S"\n'
         'blocks = ["drift"]\n', "must equal the file name"),
        ("[template\n", "not a valid UTF-8 TOML"),
    ],
)
def test_broken_templates_are_refused_with_the_reason(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "x.toml").write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_template("x", tmp_path)


def test_page_one_renders_with_poppler(annex, tmp_path: Path) -> None:
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed: make system-deps")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(annex.pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
                   check=True, capture_output=True, timeout=60)
    from PIL import Image

    png = next(tmp_path.glob("p-*.png"))
    img = Image.open(png)
    assert img.size[0] > 400 and img.size[1] > 500
    # something was drawn: the page is not blank
    assert img.convert("L").getextrema()[0] < 100


def test_cli_report_writes_a_signed_pdf(world, tmp_path: Path, capsys) -> None:
    from countersign_cli.main import main

    w = world[0]
    out = tmp_path / "r.pdf"
    code = main(["report", "--workspace", str(w.workspace.root), "--actor", OFFICER, "--model", "credit-approval",
                 "--version", "3", "--environment", "staging", "--template", "sr-11-7", "--out", str(out), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["signed"] and doc["file"] == str(out) and doc["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert doc["version_id"] == BIASED and doc["template"] == "sr-11-7"


def test_cli_report_bad_input_exits_2(world, capsys) -> None:
    from countersign_cli.main import main

    w = world[0]
    assert main(["report", "--workspace", str(w.workspace.root), "--model", "credit-approval"]) == 2
    assert "--model NAME --version V" in capsys.readouterr().err
    assert main(["report", "--workspace", str(w.workspace.root), "--model", "credit-approval", "--version",
                 "99"]) == 2
    assert "has no version 99" in capsys.readouterr().err


def test_text_outside_the_pdf_fonts_is_replaced_not_dropped() -> None:
    from governance.reports.build import clean

    assert clean("ratio ≥ 0.8 → ok <b>") == "ratio &gt;= 0.8 -&gt; ok &lt;b&gt;"
    from governance.reports.build import fmt

    assert fmt(float("nan")) == "-" and fmt(0.33310820) == "0.3331" and fmt(True) == "yes"


def test_contents_page_numbers_point_at_the_pages_with_the_headings(annex, tmp_path: Path) -> None:
    # poppler's layout keeps a contents line whole (heading, leader dots, page number); pypdf reorders them
    pages = _pdf_pages(annex.pdf, tmp_path)

    def body(text: str) -> str:  # a page without its running header (first line) and footer (last line)
        lines = [line for line in text.splitlines() if line.strip()]
        return " ".join(" ".join(lines[1:-1]).split())

    contents = " ".join(body(p) for p in pages[1:3])
    for heading in ("1. General description of the AI system", "4. Appropriateness of the performance metrics",
                    "8. Post-market monitoring plan", "A. Hashes of the artifact and datasets"):
        listed = re.search(re.escape(heading) + r"[ .]*?(\d+)", contents)
        assert listed, heading
        page = int(listed.group(1))
        # the heading itself, not its contents line (which a page number follows); the front matter may now share
        # the contents' last page, and the body follow it there
        itself = re.compile(re.escape(heading) + r"(?![ .]*\d)")
        first = next(i + 1 for i, text in enumerate(pages) if i >= 2 and itself.search(body(text)))
        assert page == first, (heading, page, first)
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]


def _report_args(w, *extra: str) -> list[str]:
    """``countersign report --unsigned --json`` of the biased version as the officer, then ``extra``."""
    return ["report", "--workspace", str(w.workspace.root), "--actor", OFFICER, "--version", BIASED, "--unsigned",
            "--json", *extra]


def _cli_report_json(w, capsys, *extra: str) -> dict:
    """Run :func:`_report_args` (it must succeed) and return the JSON document it printed."""
    from countersign_cli.main import main

    assert main(_report_args(w, *extra)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_rebuilds_the_same_unsigned_bytes_from_the_recorded_build_time(world, tmp_path: Path, capsys) -> None:
    from countersign_cli.main import main
    from governance import ledger

    w = world[0]
    first = _cli_report_json(w, capsys, "--out", str(tmp_path / "a.pdf"))
    entry = next(e for e in ledger.entries_for(w.catalog, f"version:{BIASED}") if e.hash == first["ledger_hash"])
    # the ledger keeps the build time: building again at that time gives the same bytes
    second = _cli_report_json(w, capsys, "--out", str(tmp_path / "b.pdf"), "--built-at", entry.payload["built_at"])
    assert second["sha256"] == first["sha256"] == entry.payload["sha256"]
    assert main(_report_args(w, "--built-at", "yesterday")) == 2
    assert "not an ISO 8601 time" in capsys.readouterr().err


HOLD_CATALOG = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(120)"


@pytest.mark.parametrize("where", ["out", "archive"])
def test_an_export_whose_ledger_entry_cannot_be_written_leaves_no_file(demo_copy: Workspace, tmp_path: Path,
                                                                       where: str) -> None:
    """The export and its ledger entry are one unit: when the entry cannot be written the export is refused and
    no file appears (at --out or in exports/); once the entry can be written, the same export goes through."""
    from core.errors import CatalogBusy
    from governance import ledger
    from governance.catalog import Catalog

    w = open_world(demo_copy)
    catalog = Catalog(demo_copy.catalog_path, busy_timeout=0.5)
    before_entries, before_files = ledger.head(catalog), sorted(demo_copy.exports_dir.glob("*"))
    holders: list[subprocess.Popen] = []

    def progress(message: str, fraction: float) -> None:
        if message.startswith("recording the export"):
            # another process (a CLI sync, say) takes the catalog file just as the entry is to be written
            holder = subprocess.Popen([sys.executable, "-c", HOLD_CATALOG, str(demo_copy.catalog_path)],
                                      stdout=subprocess.PIPE, text=True)
            holders.append(holder)
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"

    out = tmp_path / "out" / "report.pdf"
    target = {"out": out} if where == "out" else {"archive": True}
    try:
        with pytest.raises(CatalogBusy):
            export_report(w.workspace, w.settings, catalog, w.who(OFFICER), BIASED, sign=False, progress=progress,
                          **target)
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    assert holders, "the export never reached its ledger step"
    assert not out.exists() and not (out.parent.exists() and list(out.parent.iterdir()))  # nothing staged left
    assert sorted(demo_copy.exports_dir.glob("*")) == before_files
    assert ledger.head(catalog) == before_entries

    done = export_report(w.workspace, w.settings, catalog, w.who(OFFICER), BIASED, sign=False, **target)
    assert done.path is not None and done.path.read_bytes() == done.pdf
    assert done.ledger_seq == before_entries[0] + 1
    assert ledger.entry(catalog, done.ledger_seq).payload["file"] == done.path.name


# ---------------------------------------------------------------------------------------------------------
# The interactive HTML report beside the PDF

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


class _Tags(HTMLParser):
    """The start tags of a document, and the text of each element named ``script``."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(page: bytes) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page.decode("utf-8"))
    return parser.tags


def html_of(world, version_id: str = BIASED, template_id: str = "eu-ai-act-annex-iv", built_at=BUILT_AT, **changes):
    from governance.reports.export import prepare
    from governance.reports.html import build_html

    w = world[0]
    facts, template = prepare(w.workspace, w.settings, w.catalog, w.who(OFFICER), version_id, template_id)
    if changes:
        facts = dataclasses.replace(facts, **changes)
    return build_html(facts, template, built_at=built_at), facts, template


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_html_report_has_the_sections_blocks_charts_and_gaps_of_the_pdf(world, template_id: str) -> None:
    from governance.reports.build import BLOCKS

    w = world[0]
    page, _facts, template = html_of(world, template_id=template_id)
    pdf = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, template_id, built_at=BUILT_AT)
    text = html.unescape(page.decode("utf-8"))
    for section in template.sections:
        assert f">{section.title}</h2>" in text, section.title
        for name in section.blocks:
            assert f">{BLOCKS[name].title}</h3>" in text, name
    for heading in ("Evidence gaps", "Summary of gate verdicts", "Appendix", "F. How to verify this document"):
        assert f">{heading}</h2>" in text or f">{heading}</h3>" in text, heading
    assert template.title in text and f"{template_id} version {template.version}" in text
    assert "Generated at</td><td>2026-11-30 16:45:12 UTC" in text
    # the same charts as the PDF (as interactive specs) and the same gaps, marked where they belong
    assert text.count('<div class="chart" id="cs-chart-') == pdf.charts
    assert text.count(f'<p class="missing">{MISSING}') == len(pdf.gaps)
    assert "PAdES signature" not in text and "html_sha256" in text  # how to verify this file, not the PDF
    # the numbers the PDF prints, e.g. every registered metric of the version, with its value for sorting
    for name, value in w.catalog.version(BIASED).metrics.items():
        assert re.search(rf"<td>{re.escape(name)}</td><td data-v=\"{re.escape(repr(value))}\">", text), name


def test_html_report_lists_the_gaps_of_a_version_without_evidence(world) -> None:
    w = world[0]
    version = "lab-dev:claims-fraud:1"
    pdf = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), version, built_at=BUILT_AT)
    page, _f, _t = html_of(world, version)
    text = html.unescape(page.decode("utf-8"))
    assert pdf.gaps and text.count(f'<p class="missing">{MISSING}') == len(pdf.gaps)
    for gap in pdf.gaps:
        assert f"<td>{gap.what}</td>" in text


def test_html_report_is_self_contained_and_offline(world) -> None:
    page, _f, _t = html_of(world)
    tags = tags_of(page)
    # nothing loads from anywhere: no src/href to another document, no stylesheet link, no base
    for tag, attrs in tags:
        assert not attrs.get("src"), (tag, attrs)
        assert tag not in ("link", "base", "iframe", "object", "embed"), tag
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#"), attrs
    (csp,) = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp is not None and "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert b"vegaEmbed" in page and b"https://cdn" not in page
    scripts = [a for t, a in tags if t == "script"]
    assert [s.get("type") for s in scripts] == ["application/json", None, None, None]


def test_html_report_escapes_data_from_the_records(world) -> None:
    """A model name, description, a comment and a column name carrying markup print as text, never as markup."""
    from governance.reports.facts import EvidenceItem

    w = world[0]
    facts = html_of(world)[1]
    drift = facts.evidence["drift"]
    result = json.loads(json.dumps(drift.result))
    result["columns"][0]["column"] = HOSTILE
    hostile_drift = EvidenceItem(**{**{k: getattr(drift, k) for k in drift.__dataclass_fields__}, "result": result})
    decisions = tuple({**d, "comment": HOSTILE} for d in facts.decisions)
    page, _f, _t = html_of(world, workspace_name=HOSTILE, model=replace(facts.model, description=HOSTILE),
                           evidence={**facts.evidence, "drift": hostile_drift}, decisions=decisions)
    text = page.decode("utf-8")
    assert HOSTILE not in text and "</script><img" not in text
    assert html.escape(HOSTILE) in text  # printed, as text: cover, footer, description, decisions, drift table
    assert text.count(html.escape(HOSTILE)) >= 4 + len(decisions)
    tags = tags_of(page)
    assert [t for t, _a in tags].count("script") == 4  # only the report's own scripts
    assert "img" not in [t for t, _a in tags]
    assert not any(k.startswith("on") for _t, a in tags for k in a)
    # the chart data still carries the name (escaped for the script element), and parses back to it
    data = text.split('<script type="application/json" id="cs-charts">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and HOSTILE in json.dumps(json.loads(data), ensure_ascii=False)
    assert w.catalog.version(BIASED).model != HOSTILE


_BUILD_HTML = """
import datetime as dt, hashlib, sys
from pathlib import Path
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.identity import identity_for
from governance.reports.export import prepare
from governance.reports.html import build_html
ws = Workspace(Path(sys.argv[1])); s = load_settings(ws)
facts, template = prepare(ws, s, Catalog(ws.catalog_path), identity_for(s, sys.argv[2], source="cli"), sys.argv[3],
                          sys.argv[4])
print(hashlib.sha256(build_html(facts, template, built_at=dt.datetime.fromisoformat(sys.argv[5]))).hexdigest())
"""


def test_html_report_is_deterministic(world) -> None:
    w = world[0]
    first = html_of(world)[0]
    assert html_of(world)[0] == first
    # another interpreter (its own chart bundle, dict order, hash seed) builds the same bytes
    done = subprocess.run([sys.executable, "-c", _BUILD_HTML, str(w.workspace.root), OFFICER, BIASED,
                           "eu-ai-act-annex-iv", BUILT_AT.isoformat()], capture_output=True, text=True, cwd=ROOT,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == hashlib.sha256(first).hexdigest()
    later = html_of(world, built_at=BUILT_AT + dt.timedelta(hours=1))[0]
    assert later != first and b"2026-11-30 17:45:12 UTC" in later


def test_html_report_is_written_beside_the_pdf_with_its_sha256_in_the_ledger_entry(world, tmp_path: Path) -> None:
    from governance import ledger

    w = world[0]
    done = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, out=tmp_path / "annex.pdf",
                         built_at=BUILT_AT)
    page = tmp_path / "annex.html"
    assert done.html_path == page and page.read_bytes() == done.html
    assert page.stat().st_mode & 0o777 == 0o600 and (tmp_path / "annex.pdf").stat().st_mode & 0o777 == 0o600
    entry = ledger.entry(w.catalog, done.ledger_seq)
    assert entry.action == "report.export" and entry.hash == done.ledger_hash
    assert entry.payload["html_sha256"] == hashlib.sha256(page.read_bytes()).hexdigest() == done.html_sha256
    assert entry.payload["html_file"] == "annex.html" and entry.payload["file"] == "annex.pdf"
    assert entry.payload["sha256"] == hashlib.sha256((tmp_path / "annex.pdf").read_bytes()).hexdigest()
    # the HTML does not depend on the signature: the same facts and build time give the same file
    assert done.html == html_of(world)[0]


def test_html_report_archived_beside_the_pdf_and_optional(world, tmp_path: Path) -> None:
    from governance import ledger

    w = world[0]
    kept = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, archive=True, sign=False,
                         built_at=BUILT_AT)
    assert kept.path is not None and kept.html_path == kept.path.with_suffix(".html")
    assert kept.html_path.parent == w.workspace.exports_dir and kept.html_path.read_bytes() == kept.html
    without = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, out=tmp_path / "only.pdf",
                            sign=False, built_at=BUILT_AT, html=False)
    assert without.html is None and without.html_path is None and not (tmp_path / "only.html").exists()
    payload = ledger.entry(w.catalog, without.ledger_seq).payload
    assert payload["html_sha256"] is None and payload["html_file"] is None
    with pytest.raises(InputError, match=r"name it FILE\.pdf"):
        export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, out=tmp_path / "r.html", sign=False)


def test_cli_report_writes_the_html_beside_the_pdf_or_not(world, tmp_path: Path, capsys) -> None:
    w = world[0]
    doc = _cli_report_json(w, capsys, "--out", str(tmp_path / "a.pdf"))
    assert doc["html_file"] == str(tmp_path / "a.html")
    assert doc["html_sha256"] == hashlib.sha256((tmp_path / "a.html").read_bytes()).hexdigest()
    doc = _cli_report_json(w, capsys, "--out", str(tmp_path / "b.pdf"), "--no-html")
    assert doc["html_file"] is None and doc["html_sha256"] is None and not (tmp_path / "b.html").exists()


def test_html_table_cells_sort_keys_mono_columns_and_highlighted_rows() -> None:
    from governance.reports.build import TableContent
    from governance.reports.html import table_html

    out = table_html(TableContent(("Name", "Score", "sha256"), (("a<b", 0.5, "ab12"), ("c", None, "cd34")), mono=(2,),
                                  marked=((1, "differs"),)))
    assert '<th scope="col" aria-sort="none"><button type="button">Score</button></th>' in out
    assert '<tr><td>a&lt;b</td><td data-v="0.5">0.5</td><td class="mono">ab12</td></tr>' in out
    assert '<tr class="differs"><td>c</td><td>-</td><td class="mono">cd34</td></tr>' in out


def _lines_of(flowable, width: float) -> list[str]:
    """The lines a table cell prints at ``width`` (a plain string is one line)."""
    from reportlab.platypus import Paragraph

    if not isinstance(flowable, Paragraph):
        return [str(flowable)]
    flowable.wrap(width, 10_000)
    return [" ".join(getattr(w, "text", w) if not isinstance(w, str) else w for w in line[1])
            if isinstance(line, tuple) else " ".join(f.text for f in line.words)
            for line in flowable.blPara.lines]


def test_pdf_tables_never_split_a_word() -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from governance.reports.build import BODY_W, CELL_PADDING, STYLES, table

    words = ("PendingManualApproval", "lab-staging:claims-fraud:3", "identical_artifact")
    rows = [("drift", w, "a long explanation of what the gate found " * 3) for w in words]
    t = table(("Gate", "Status", "Message"), rows, (BODY_W * 0.15, BODY_W * 0.1, BODY_W * 0.75))
    widths = t._colWidths
    assert sum(widths) == pytest.approx(BODY_W)  # the table keeps its width
    cell = STYLES["cell"]
    for w in words:  # each word fits its column on one line
        assert widths[1] - CELL_PADDING >= stringWidth(w, cell.fontName, cell.fontSize)
    for r, (_gate, word, _msg) in enumerate(rows, start=1):
        printed = _lines_of(t._cellvalues[r][1], widths[1] - CELL_PADDING)
        assert printed == [word]
        message_lines = _lines_of(t._cellvalues[r][2], widths[2] - CELL_PADDING)
        assert " ".join(message_lines).split() == rows[r - 1][2].split()  # wrapped only between words


def test_a_hash_wider_than_any_column_may_wrap_without_starving_the_others() -> None:
    from governance.reports.build import BODY_W, WIDEST_WORD_SHARE, table

    # 64 hex digits in Courier need ~263 pt, more than the column's 30 %: it grows only to the cap, then wraps
    t = table(("File", "sha256"), [("model.skops", "a" * 64)], (BODY_W * 0.7, BODY_W * 0.3), mono=(1,))
    assert t._colWidths[1] == pytest.approx(BODY_W * WIDEST_WORD_SHARE)
    assert sum(t._colWidths) == pytest.approx(BODY_W)


# -- issue 35, finding 13: pages without near-empty pages, cells without words broken in two ----------------------


def _pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """Each page's text as poppler's ``pdftotext -layout`` lays it out (table columns apart)."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1]


def _report_of(world, template_id: str):
    from governance.reports.assemble import document
    from governance.reports.export import prepare

    w = world[0]
    facts, template = prepare(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, template_id)
    built = build_unsigned(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, template_id, built_at=BUILT_AT)
    return document(facts, template, built_at=BUILT_AT), built.pdf


def _tables(nodes):
    from governance import document as d

    for node in nodes:
        if isinstance(node, d.Table):
            yield node
        elif isinstance(node, d.Titled):
            yield from _tables(node.body)
        elif isinstance(node, d.PerMedium):
            yield from _tables(node.pdf)


@pytest.mark.parametrize("template_id", ["eu-ai-act-annex-iv", "sr-11-7"])
def test_no_page_but_the_last_is_near_empty(world, template_id: str, tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader

    _document, pdf = _report_of(world, template_id)
    pages = _pdf_pages(pdf, tmp_path)
    images = [len(p.images) for p in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) == len(images)
    for number, (text, pictures) in enumerate(zip(pages[:-1], images, strict=False), start=1):
        body = [line for line in text.splitlines() if line.strip()][1:-1]  # without running header and footer
        assert pictures or len(body) >= 12, (template_id, number, body)


@pytest.mark.parametrize("template_id", ["eu-ai-act-annex-iv", "sr-11-7"])
def test_table_cells_never_break_a_word_or_an_evidence_id(world, template_id: str, tmp_path: Path) -> None:
    from governance.document import fmt
    from governance.reports.pdf import clean_text

    document, pdf = _report_of(world, template_id)
    printed = {w for page in _pdf_pages(pdf, tmp_path) for w in page.split()}
    nodes = [*document.cover, *document.front, *document.body, *document.back]
    broken = sorted({w for t in _tables(nodes) for row in (t.header, *t.rows) for v in row
                     for w in clean_text(fmt(v)).split() if len(w) <= 40 and w not in printed})
    assert not broken, broken


@pytest.mark.parametrize("template_id", ["eu-ai-act-annex-iv", "sr-11-7"])
def test_pdf_tables_read_in_words(world, template_id: str) -> None:
    """Issue 35: the header-mapping rule for the PDF's tables: headers and code cells in words, no None, no raw JSON,
    no scientific notation, no registry state spelt as code (PendingManualApproval)."""
    from governance.document import fmt

    document, _pdf = _report_of(world, template_id)
    nodes = [*document.cover, *document.front, *document.body, *document.back]
    snake, camel = re.compile(r"^[a-z]+(?:_[a-z]+)+$"), re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]+)+$")
    sci = re.compile(r"\d\.?\d*e[+-]\d+")
    bad = set()
    data_names = {"Feature", "Attribute", "Parameter", "column", "Column", "Metric"}  # the dataset's own names
    for t in _tables(nodes):
        bad |= {("header", h) for h in t.header if snake.match(str(h))}
        for row in t.rows if t.header[0] not in data_names else ():
            for value in row:
                text = fmt(value)
                if text == "None" or text.startswith(('{"', "[{")) or sci.search(text) or camel.match(text) \
                        or snake.match(text):
                    bad.add((t.header[0], text[:60]))
    assert not bad, "; ".join(map(str, sorted(bad)))
