"""The Export page: build and sign a report, build an audit pack, download, preview, and who may do it."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from governance import ledger
from governance.catalog import Catalog
from governance.reports.export import default_filename
from governance.reports.sign import verify_pdf

VERSION = "lab-staging:credit-approval:3"
OFFICER = "risk.officer@demo.countersign.dev"


def at_catalog(workspace) -> Catalog:
    return Catalog(workspace.catalog_path)


def elements(at, name: str) -> list:
    return [e for e in at.main if type(e).__name__ == name]


def open_export(app_factory, root, persona: str):
    at = app_factory(root, persona=persona).run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="export.version").set_value(VERSION).run()
    return at


def test_officer_builds_a_signed_report_and_downloads_it(demo_copy, app_factory) -> None:
    at = open_export(app_factory, demo_copy.root, OFFICER)
    at.selectbox(key="export.template").set_value("sr-11-7").run()
    at.button(key="export.build").click().run()
    assert not at.exception, at.exception
    message = at.success[0].value  # the risk officer built it and signed it with her own certificate
    assert "built and exported by **Rita Okafor" in message and "signed with the certificate of **Rita Okafor**" in message
    assert "signed with your own certificate, **Rita Okafor**" in " ".join(c.value for c in at.caption)
    (written,) = demo_copy.exports_dir.glob(default_filename(VERSION, "sr-11-7", "__*.pdf"))
    assert verify_pdf(written.read_bytes()).ok
    downloads = at.get("download_button")
    assert [d.label for d in downloads] == ["Download PDF", "Download HTML"]
    # the interactive HTML is kept beside the signed PDF, and the export's ledger entry records its sha256
    page = written.with_suffix(".html")
    entry = next(e for e in ledger.entries_for(at_catalog(demo_copy), f"version:{VERSION}")
                 if e.action == "report.export")
    assert entry.payload["html_file"] == page.name
    assert entry.payload["html_sha256"] == hashlib.sha256(page.read_bytes()).hexdigest()
    if shutil.which("pdftoppm"):
        assert elements(at, "Image"), "page-1 preview missing"
    # the export is in the page's history, read back from the ledger
    history = at.dataframe[0].value
    # ledger actions in words (issue 35, finding 11)
    assert list(history["what"]) == ["report exported"] and list(history["template"]) == ["sr-11-7"]
    assert history["who"].iloc[0] == OFFICER


def test_auditor_builds_an_audit_pack(demo_copy, app_factory) -> None:
    at = open_export(app_factory, demo_copy.root, "auditor@demo.countersign.dev")
    at.button(key="export.pack").click().run()
    assert not at.exception, at.exception
    assert [d.label for d in at.get("download_button")] == ["Download PDF", "Download HTML", "Download audit pack"]
    assert len(list(demo_copy.exports_dir.glob(default_filename(VERSION, "eu-ai-act-annex-iv", "__*.zip")))) == 1
    assert set(at.dataframe[0].value["what"]) == {"report exported", "audit pack exported"}
    message = at.success[0].value  # the auditor built it; the organisation's seal signed it, naming the auditor
    assert "built and exported by **Ada" in message
    assert "sealed with the organisation's certificate **Countersign demo (Lakeside Insurance & Credit) seal**" in message
    assert "Rita" not in message  # no risk officer's personal certificate signs an auditor's export


def test_a_second_export_keeps_the_first_file_the_ledger_points_to(demo_copy, app_factory) -> None:
    at = open_export(app_factory, demo_copy.root, "auditor@demo.countersign.dev")
    at.button(key="export.build").click().run()
    at.button(key="export.pack").click().run()  # builds (and signs) the report again, then the pack
    assert not at.exception, at.exception
    history = at.dataframe[0].value
    reports = history[history["what"] == "report exported"]
    assert len(reports) == 2 and reports["sha256"].nunique() == 2  # signed at different moments
    for row in history.itertuples():
        kept = demo_copy.exports_dir / row.file
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == row.sha256, row.file


@pytest.mark.parametrize("persona", ["data.scientist@demo.countersign.dev", "ml.engineer@demo.countersign.dev"])
def test_roles_without_export_see_disabled_buttons(demo_workspace, app_factory, persona: str) -> None:
    at = open_export(app_factory, demo_workspace.root, persona)
    assert at.button(key="export.build").disabled and at.button(key="export.pack").disabled
    assert any("may read past exports" in i.value for i in at.info)


VALIDATOR = "validator@demo.countersign.dev"


def test_a_second_risk_officer_countersigns_a_report_exported_earlier(demo_copy, app_factory) -> None:
    from governance.reports.export import export_report
    from tests.governance.report_world import open_world

    w = open_world(demo_copy)
    first = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), VERSION, "sr-11-7", archive=True)
    at = open_export(app_factory, demo_copy.root, VALIDATOR)
    # issue 35, finding 4: nothing is picked for the signer (the newest export may be someone else's copy)
    assert at.selectbox(key="export.countersign.file").value is None
    assert at.button(key="export.countersign.go").disabled
    at.selectbox(key="export.countersign.file").set_value(first.path.name).run()
    at.button(key="export.countersign.go").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    message = next(s.value for s in at.success if "Countersigned" in s.value)
    assert "Countersigned by **Victor Lang" in message and "2 valid signatures (Rita Okafor, Victor Lang)" in message
    history = at.dataframe[0].value
    assert list(history["what"]) == ["report countersigned", "report exported"]
    row = history.iloc[0]
    assert row["who"] == VALIDATOR
    result = verify_pdf((demo_copy.exports_dir / row["file"]).read_bytes())
    assert result.ok and [s.signer for s in result.signatures] == ["Rita Okafor", "Victor Lang"]
    assert [d.label for d in at.get("download_button")] == ["Download countersigned PDF"]


def test_only_people_who_sign_see_the_countersign_action(demo_workspace, app_factory) -> None:
    at = open_export(app_factory, demo_workspace.root, "auditor@demo.countersign.dev")
    assert "Countersign a report exported earlier" not in [h.value for h in at.subheader]
    assert "sealed with the organisation's certificate" in " ".join(c.value for c in at.caption)


def test_an_auditor_without_a_seal_is_told_who_can_sign(demo_copy, app_factory) -> None:
    cfg = demo_copy.config_path.read_text(encoding="utf-8").replace("seal = true", "seal = false")
    demo_copy.config_path.write_text(cfg, encoding="utf-8")
    at = open_export(app_factory, demo_copy.root, "auditor@demo.countersign.dev")
    assert any("no signature can be made for you" in w.value and OFFICER in w.value for w in at.warning)
    at.button(key="export.build").click().run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert "may export but does not sign reports" in error.value and VALIDATOR in error.value
    assert not list(demo_copy.exports_dir.glob("*.pdf")) and not at.success
