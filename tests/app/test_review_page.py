"""The Review page: loads stored evidence, computes on request with progress, never computes for viewers."""

from __future__ import annotations

import json
import re

import pytest

from governance.analytics.evidence import list_evidence
from governance.catalog import Catalog
from portal.context import SELECTED_VERSION
from tests.app.shown import plain

OFFICER = "risk.officer@demo.countersign.dev"
AUDITOR = "auditor@demo.countersign.dev"
PAGE = "app_pages/review.py"


def _open(app_factory, workspace, persona, version):
    at = app_factory(workspace, persona=persona).run()
    at.session_state[SELECTED_VERSION] = version
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_opening_the_page_never_computes(demo_workspace, app_factory):
    at = _open(app_factory, demo_workspace.root, OFFICER, "lab-prod:claims-fraud:2")
    assert any("no stored drift evidence" in i.value for i in at.info)
    assert list_evidence(Catalog(demo_workspace.catalog_path), "lab-prod:claims-fraud:2") == []


def test_compute_then_reopen_from_evidence(demo_copy, app_factory):
    vid = "lab-prod:claims-fraud:2"
    at = _open(app_factory, demo_copy.root, OFFICER, vid)
    at.button(key="review.compute").click().run(timeout=120)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Drifted columns"] == "2 of 10"
    assert metrics["Dataset drift"] == "no"
    titles = " ".join(str(s.get("title", "")) for s in _specs(at))
    assert "Drift by column" in titles and "Global importance" in titles and "parity ratio" in titles
    drift_rows = next(s for s in _specs(at) if "Drift by column" in str(s.get("title")))
    assert drift_rows  # the chart spec carries the per-column data
    # the axis says in words what its numbers mean
    assert "1 = at the threshold (dashed line), right of it = drifted" in json.dumps(drift_rows)
    kinds = {e.kind for e in list_evidence(Catalog(demo_copy.catalog_path), vid)}
    assert kinds == {"drift", "bias", "explain"}
    # issue 35, finding 14: the provenance line said "computed · computed 2026-…"
    assert not any("computed · computed" in c.value for c in at.caption), [c.value for c in at.caption]
    assert not any(re.search(r"\de[+-]\d", c.value) for c in at.caption), [c.value for c in at.caption]

    again = _open(app_factory, demo_copy.root, AUDITOR, vid)  # a viewer sees the stored evidence
    assert {m.label: m.value for m in again.metric}["Drifted columns"] == "2 of 10"
    assert any("cached" in c.value for c in again.caption)


def test_biased_version_fails_four_fifths_on_the_page(demo_copy, app_factory):
    at = _open(app_factory, demo_copy.root, OFFICER, "lab-staging:credit-approval:3")
    at.button(key="review.compute").click().run(timeout=120)
    assert not at.exception, at.exception
    values = [m.value for m in at.metric if m.label == "Four-fifths rule"]
    assert values[0] == "FAILS"  # gender comes first


def test_viewer_cannot_compute(demo_copy, app_factory):
    at = _open(app_factory, demo_copy.root, AUDITOR, "lab-prod:claims-fraud:2")
    assert at.button(key="review.compute").disabled
    assert any("Ask a data scientist" in i.value for i in at.info)


def test_the_waterfall_follows_the_row_to_explain(demo_copy, app_factory):
    from governance.config import load_settings
    from governance.evidence import review_version
    from governance.identity import identity_for

    vid = "lab-staging:credit-approval:3"
    settings = load_settings(demo_copy)
    stored = review_version(demo_copy, settings, Catalog(demo_copy.catalog_path), vid, kinds=("explain",),
                            actor=identity_for(settings, OFFICER, source="cli")).explain
    at = _open(app_factory, demo_copy.root, AUDITOR, vid)

    def waterfall() -> tuple[str, list[dict]]:
        """The waterfall's title and the rows of data Streamlit sends with it (Arrow, beside the spec)."""
        from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

        chart = next(c for c in at.get("vega_lite_chart")
                     if str(json.loads(c.proto.spec).get("title", "")).startswith("Local explanation"))
        (data,) = chart.proto.datasets
        return json.loads(chart.proto.spec)["title"], \
            convert_arrow_bytes_to_pandas_df(data.data.data).to_dict("records")

    pick = next(s for s in at.selectbox if s.label == "Row to explain")
    assert pick.options == [f"row {x['row']} · output {x['output']:.4g}" for x in stored.local_rows]
    assert pick.value == stored.local["row"] == stored.kept_rows[0]
    title, before = waterfall()
    assert title == f"Local explanation of row {stored.local['row']}"

    other = stored.kept_rows[1]
    pick.set_value(other).run()
    assert not at.exception, at.exception
    title, after = waterfall()
    assert title == f"Local explanation of row {other}"
    assert after != before
    assert next(r["end"] for r in after if r["step"] == "model output") == \
        pytest.approx(stored.local_at(other)["output"])


def test_the_page_opens_on_a_version_with_evidence_when_none_is_named(demo_workspace, app_factory):
    catalog = Catalog(demo_workspace.catalog_path)
    with_evidence = {e.version_id for e in list_evidence(catalog)}
    at = app_factory(demo_workspace.root, persona=AUDITOR).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="review.version")
    assert picker.options[0] not in with_evidence  # the first version in the list has none: not where it opens
    assert picker.value in with_evidence
    assert not any("no stored drift evidence" in i.value for i in at.info)


def test_the_model_pages_lineage_opens_on_a_version_with_evidence(demo_workspace, app_factory):
    from portal.context import SELECTED_MODEL

    catalog = Catalog(demo_workspace.catalog_path)
    with_evidence = {e.version_id for e in list_evidence(catalog)}
    at = app_factory(demo_workspace.root, persona=AUDITOR).run()
    at.session_state[SELECTED_MODEL] = "claims-fraud"
    at.switch_page("app_pages/model.py").run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="model.version")
    assert picker.options[0] not in with_evidence and picker.value in with_evidence


def test_first_with_evidence_keeps_the_order_asked(demo_workspace):
    catalog = Catalog(demo_workspace.catalog_path)
    have = sorted({e.version_id for e in list_evidence(catalog)})
    assert len(have) >= 2
    none = "nowhere:none:1"
    assert catalog.first_with_evidence([none, have[1], have[0]]) == have[1]
    assert catalog.first_with_evidence([none]) is None and catalog.first_with_evidence([]) is None


def test_engine_is_offered_only_when_the_workspace_configures_one(demo_copy, app_factory):
    vid = "lab-prod:claims-fraud:2"
    at = _open(app_factory, demo_copy.root, OFFICER, vid)
    assert not [s for s in at.selectbox if s.key == "review.engine"]
    with demo_copy.config_path.open("a", encoding="utf-8") as f:
        f.write('\n[engines.spark]\nmaster = "local[2]"\nconf = { "spark.sql.shuffle.partitions" = "4" }\n')
    at = _open(app_factory, demo_copy.root, OFFICER, vid)
    engine = next(s for s in at.selectbox if s.key == "review.engine")
    assert list(engine.options) == ["duckdb", "spark"] and engine.value == "duckdb"


def test_evidence_reported_by_a_pipeline_is_shown_as_such(demo_copy, app_factory):
    # a version whose pipeline produced an Evidently report, here disagreeing with Countersign's recomputation
    from governance.analytics.evidence import store_evidence
    from governance.analytics.summaries import OtherSummary
    from governance.identity import Identity

    vid = "lab-staging:claims-fraud:3"
    catalog = Catalog(demo_copy.catalog_path)
    with catalog.transaction() as con:
        con.execute("UPDATE versions SET report_uris = ? WHERE version_id = ?",
                    [json.dumps({"evidently_report": "registry/report.json"}), vid])
    actor = Identity(OFFICER, frozenset({"risk_officer"}), source="cli")
    store_evidence(catalog, kind="drift_reported", version_id=vid, input_hash="report", config_hash="c",
                   result={"agrees": False, "disagreements": ["income: the pipeline reports 0 ..."]},
                   summary=OtherSummary("drift_reported", {"provenance": "reported by the pipeline",
                                                           "recomputed": "DISAGREES: income"}),
                   inputs={}, actor=actor)
    at = _open(app_factory, demo_copy.root, OFFICER, vid)
    assert "Reported by the pipeline" in [h.value for h in at.subheader]
    assert any("DISAGREES" in e.value for e in at.error)


def test_the_planted_prod_drift_fails_the_weighted_drift_gate_on_the_page(demo_copy, app_factory):
    # 2 of 10 columns drifted: the share gate passes; claim_amount carries a third of the model's attribution
    vid = "lab-prod:claims-fraud:2"
    at = _open(app_factory, demo_copy.root, OFFICER, vid)
    at.button(key="review.compute").click().run(timeout=180)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tier medium drift gate"] == "passes"
    assert metrics["Tier medium weighted drift gate"] == "FAILS"
    assert float(metrics["Weighted drift"].rstrip("%")) > 25
    warning = next(plain(w.value) for w in at.tabs[0].warning if "max_weighted_drift" in w.value)  # as it reads: column names are escaped
    assert warning.startswith("claim_amount (") and "% of the model's attribution" in warning
    assert "mean |SHAP| of the version's explainability evidence" in warning

    again = _open(app_factory, demo_copy.root, AUDITOR, vid)  # stored: the same verdict for a viewer
    assert {m.label: m.value for m in again.metric}["Tier medium weighted drift gate"] == "FAILS"
