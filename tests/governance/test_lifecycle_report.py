"""The lifecycle registers in the regulatory PDF: the fallback and kill switch, the incidents with their deadlines,
and the regimes in force on the report's date with the next one coming (issue 38)."""

from __future__ import annotations

import datetime as dt

from governance import fallback, incidents
from governance.reports.build import BLOCKS
from governance.reports.template_library import load_template
from tests.governance.report_world import open_world, pdf_text
from tests.governance.test_fallback import EARLIER, IN_USE, approved_plan, ctx_as


def _export(ws, template: str):
    from governance.reports.export import export_report

    w = open_world(ws)
    return export_report(w.workspace, w.settings, w.catalog, w.who("risk.officer@demo.countersign.dev"), IN_USE,
                         template, sign=False)


def test_the_templates_carry_the_lifecycle_blocks() -> None:
    for name in ("fallback", "incidents", "regimes"):
        assert name in BLOCKS
    blocks = {t: {b for s in load_template(t).sections for b in s.blocks}
              for t in ("sr-26-2", "pra-ss1-23", "eu-ai-act-annex-iv")}
    assert {"fallback", "incidents", "regimes"} <= blocks["sr-26-2"]
    assert {"fallback", "incidents", "regimes"} <= blocks["pra-ss1-23"]
    assert {"incidents", "regimes"} <= blocks["eu-ai-act-annex-iv"]


def test_a_version_in_prod_without_a_fallback_is_an_evidence_gap(demo_copy) -> None:
    cfg = demo_copy.config_path.read_text(encoding="utf-8")
    demo_copy.config_path.write_text(cfg.replace(
        "[models.claims-fraud]\n", '[models.claims-fraud]\naccountable_senior_manager = "SMF4 Chief Risk Officer"\n'
        'materiality = "high"\ngenerative_ai = false\n'), encoding="utf-8")
    report = _export(demo_copy, "pra-ss1-23")
    assert any("no approved fallback" in g.what for g in report.gaps), report.gaps
    text = pdf_text(report.pdf)
    assert "no approved fallback" in text
    # the inventory fields the 2026 rules name: from [models.NAME], the rest said to be missing
    assert "Accountable senior manager (PRA SS1/23) SMF4 Chief Risk Officer" in text
    assert "Materiality (SR 26-2) high" in text and "Generative AI no" in text
    assert "EU AI Act classification not recorded" in text


def test_the_pdf_shows_the_fallback_its_rehearsal_the_incidents_and_the_regimes(demo_copy) -> None:
    plan = approved_plan(demo_copy)
    fallback.rehearse(ctx_as(demo_copy, "ml.engineer"), plan.plan_id)
    aware = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) - dt.timedelta(days=20)
    inc = incidents.record_incident(
        ctx_as(demo_copy, "data.scientist"), IN_USE, "Fraud flags on every claim from one broker",
        "312 claims held for manual review", "high", False, occurred_at=aware - dt.timedelta(days=1), aware_at=aware)
    report = _export(demo_copy, "pra-ss1-23")
    text = pdf_text(report.pdf)
    assert not any("no approved fallback" in g.what for g in report.gaps)
    assert f"fall back to {EARLIER}" in text and plan.plan_id in text
    assert "rehearsal passed" in text
    assert inc.incident_id in text and "Fraud flags on every claim from one broker" in text
    # the internal escalation deadline (high: 3 days) passed without a report: the PDF says so
    assert "OVERDUE" in text and "pra-ss1-23-escalation" in text
    assert "SR 26-2" in text and "PRA SS1/23" in text and "EU AI Act" in text
    assert "Regimes in force on" in text
