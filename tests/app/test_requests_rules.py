"""The Requests page shows issue 12's rules: a refused skip, the approvals a skip needs, and a decision as it was
taken apart from what changed since."""

from __future__ import annotations

from governance.analytics.evidence import store_evidence
from governance.analytics.summaries import DriftSummary
from governance.catalog import Catalog
from governance.config import load_settings
from governance.context import Context
from governance.demo_history import open_request_id
from governance.identity import identity_for
from governance.promotion import approve
from tests.app.shown import plain
from tests.app.test_signoff_pages import D, open_requests_page, texts

MEDIUM = "[policy.tiers.medium]\napprovals_required = 1\n"


def _submit(at, version_id: str, to_env: str, reason: str) -> None:
    at.selectbox(key="req.new.version").set_value(version_id).run()
    at.selectbox(key="req.new.to").set_value(to_env).run()
    at.text_area(key="req.new.reason").set_value(reason).run()
    at.button(key="req.new.submit").click().run()


def test_the_page_refuses_a_skip_with_the_reason(demo_copy, app_factory) -> None:
    at = open_requests_page(app_factory, demo_copy.root, "ml.engineer")
    _submit(at, "lab-dev:claims-fraud:4", "prod", "straight to prod")
    assert not at.exception, at.exception
    shown = texts(at)
    assert "dev → prod skips staging" in shown and 'allow_skip = ["dev->prod"]' in shown
    assert Catalog(demo_copy.catalog_path).query_df(
        "SELECT count(*) AS n FROM promotion_requests WHERE version_id = 'lab-dev:claims-fraud:4'")["n"][0] == 0


def test_an_allowed_skip_shows_the_extra_approval(demo_copy, app_factory) -> None:
    cfg = demo_copy.config_path
    cfg.write_text(cfg.read_text().replace(MEDIUM, MEDIUM + 'allow_skip = ["dev->prod"]\n', 1))
    at = open_requests_page(app_factory, demo_copy.root, "ml.engineer")
    _submit(at, "lab-dev:claims-fraud:4", "prod", "hotfix straight to prod")
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Skips environments" in shown and "this request needs 2 approvals" in shown
    assert [m.value for m in at.metric if m.label == "Approvals"] == ["0/2"]


def test_a_decided_request_shows_what_was_seen_and_what_changed(demo_copy, app_factory) -> None:
    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    approve(Context(demo_copy, settings, catalog, identity_for(settings, f"risk.officer@{D}", source="cli")), rid, "ok")
    new = store_evidence(catalog, kind="drift", version_id="lab-staging:claims-fraud:3", input_hash="later",
                         config_hash="test", result={}, inputs={},
                         summary=DriftSummary(drift_share=0.8, drifted_columns=("claim_amount",), n_columns=5),
                         actor=identity_for(settings, f"data.scientist@{D}", source="cli"))
    at = open_requests_page(app_factory, demo_copy.root, "auditor")
    at.selectbox(key="req.id").set_value(rid).run()
    assert not at.exception, at.exception
    heads = [h.value for h in at.subheader]
    assert f"As decided: what risk.officer@{D} saw" in heads and "Changed since the decision" in heads
    assert heads.index("Changed since the decision") < heads.index("Policy gates today")
    changed = "\n".join(plain(w.value) for w in at.warning)
    assert new.evidence_id in changed and "gate drift: pass then, fail now" in changed



def test_the_review_page_shows_a_promoted_copys_inherited_bias(demo_workspace, app_factory) -> None:
    """Review agrees with the gates and the PDF: the copy in prod shows its staging source's bias evidence."""
    from governance.analytics.evidence import evidence_through_lineage
    from portal.context import SELECTED_VERSION

    rule = evidence_through_lineage(Catalog(demo_workspace.catalog_path), "lab-prod:claims-fraud:1", "bias")
    at = app_factory(demo_workspace.root, persona=f"auditor@{D}").run()
    at.session_state[SELECTED_VERSION] = "lab-prod:claims-fraud:1"
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception
    assert any(rule.evidence_id in c.value for c in at.caption)
    assert any("inherited from lab-staging:claims-fraud:1" in plain(i.value) for i in at.info)


def test_stored_evidence_is_listed_whether_or_not_a_gate_uses_it(demo_copy, app_factory) -> None:
    # a tier whose gates read no evidence: the drift, bias and explain evidence stored for the version is still
    # what the risk officer sees, and the page does not claim there is none
    cfg = demo_copy.config_path
    medium = ("max_drift_share = 0.3\nmax_weighted_drift = 0.25\nmin_disparate_impact = 0.8\n"
              "min_metrics = { auc = 0.7 }")
    assert medium in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(medium, "min_metrics = { auc = 0.7 }", 1))
    catalog = Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    stored = {r.kind: r.evidence_id for r in catalog.evidence_records(_version_of(catalog, rid))}
    assert {"drift", "bias", "explain"} <= set(stored)
    at = open_requests_page(app_factory, demo_copy.root, "auditor")
    at.selectbox(key="req.id").set_value(rid).run()
    assert not at.exception, at.exception
    assert not [r for r in _gates(at) if r in ("drift", "fairness")]  # no gate of the tier reads evidence
    shown = texts(at)
    assert "No evidence on record" not in shown
    for kind in ("drift", "bias", "explain"):
        assert stored[kind] in shown, kind
    assert "stored; no gate of this tier reads it" in "\n".join(c.value for c in at.caption)


def _version_of(catalog: Catalog, rid: str) -> str:
    return catalog.query_df("SELECT version_id FROM promotion_requests WHERE request_id = ?", [rid])["version_id"][0]


def _gates(at) -> list[str]:
    return [plain(m.value).split("**")[1] if "**" in m.value else "" for m in at.markdown if "— " in m.value]


def test_a_request_whose_gates_fail_is_created_with_a_warning_and_its_engineer_may_only_cancel(demo_copy,
                                                                                           app_factory) -> None:
    """Issue 35, finding 10: no warning at submit when gates fail; the engineer saw "Your decision", "Comment
    (required)" and an Export panel on her own request, where her only action is to cancel it."""
    at = open_requests_page(app_factory, demo_copy.root, "ml.engineer")
    _submit(at, "lab-dev:claims-fraud:4", "staging", "v4 for staging soak")  # no drift or bias evidence yet
    assert not at.exception, at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "created, but" in warned and "gate(s) block its approval" in warned and "drift" in warned
    headings = [h.value for h in at.subheader]
    assert "Cancel your request" in headings and "Your decision" not in headings
    assert at.text_area(key="req.comment").label == "Why you cancel it (required)"
    assert not [e for e in at.expander if "Export a signed report" in e.label]
    assert at.button(key="req.cancel") and not [b for b in at.button if b.key == "req.approve"]
