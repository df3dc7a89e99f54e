"""The six journeys of issue 7, clicked through in Chromium against the real portal on a fresh demo workspace.

Each journey asserts what its user sees (text, table rows, charts, no Streamlit exception box) against an oracle
that does not go through the portal: the demo's folder registry read directly, the CLI, or the ledger verifier.
They run in file order on one session server: 2 → 3 → 6 follow the request journey 2 creates (the biased
credit-approval v3), 4 → 5 the demo's open request (claims-fraud v3 to prod). Each looks its request up through the
CLI rather than through state kept by the previous test. Every feature they need has landed, so none is skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import harness as h
from tests.browser.harness import Server

pytestmark = pytest.mark.browser

REQUEST_ID = re.compile(r"PR-\d{8}-[0-9a-f]+")
# the demo's open request (docs/demo.md, planted truth 5) and the planted biased version (truth 2)
OPEN_DEMO_VERSION = "lab-staging:claims-fraud:3"
BIASED_VERSION = "lab-staging:credit-approval:3"


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ``countersign`` CLI, the second way into the same governance functions (a separate process)."""
    done = subprocess.run([str(h.VENV_BIN / "countersign"), *args], capture_output=True, text=True, timeout=120,
                          check=False)
    if check:
        assert done.returncode == 0, f"countersign {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def requests_of(workspace: Path, version_id: str) -> list[dict]:
    """Oracle: the promotion requests of a version as the CLI lists them (newest first)."""
    rows = json.loads(cli("requests", "--workspace", str(workspace), "--json").stdout)
    return [r for r in rows if r["version_id"] == version_id]


def open_request(workspace: Path, version_id: str, to_env: str = "prod") -> dict:
    """The one pending request of ``version_id`` to ``to_env``."""
    pending = [r for r in requests_of(workspace, version_id) if r["status"] == "pending" and r["to_env"] == to_env]
    assert len(pending) == 1, f"expected one pending request of {version_id} to {to_env}, found {pending}"
    return pending[0]


def registry_versions(workspace: Path, environment: str) -> dict[str, dict]:
    """Oracle: every version of a demo folder registry, read from its files (version id → metadata.json)."""
    account = f"lab-{environment}"
    out: dict[str, dict] = {}
    for meta in sorted((workspace / "registry" / environment).glob("*/*/metadata.json")):
        model, version = meta.parent.parent.name, meta.parent.name
        out[f"{account}:{model}:{version}"] = json.loads(meta.read_text())
    return out


def registry_unapproved_serving(workspace: Path, environment: str) -> set[str]:
    """Oracle: versions an in-service endpoint serves although their registry status is not Approved."""
    versions = registry_versions(workspace, environment)
    deployments = json.loads((workspace / "registry" / environment / "deployments.json").read_text())
    out = set()
    for d in deployments:
        vid = f"lab-{environment}:{d['model']}:{d['version']}"
        if d["status"] == "InService" and versions[vid]["approval_status"] != "Approved":
            out.add(vid)
    return out


def metric_value(page: Page, label: str) -> str:
    """The value shown by the ``st.metric`` labelled ``label``."""
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    )
    expect(metric).to_have_count(1)
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


# -- journey 1 ----------------------------------------------------------------------------------------------------


def test_journey_1_inventory_prod_flags_unapproved_deployment(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path
) -> None:
    """A risk officer filters the inventory to prod and sees repair-cost v2 flagged as an unapproved deployment."""
    page = open_as(h.RISK_OFFICER)
    # the default page lives at "/" (Streamlit ignores url_path for the default page)
    h.open_page(page, portal.url, "", title="Model inventory")
    h.assert_no_exception(page)
    # the demo banner names who is acting, so nobody mistakes generated data for real data
    expect(h.demo_banner(page)).to_contain_text(f"Acting as {h.RISK_OFFICER} (risk_officer)")

    h.choose(page, "stMultiSelect", "Environment", "prod")
    h.assert_no_exception(page)

    expected_versions = registry_versions(browser_workspace, "prod")
    expected_flagged = registry_unapproved_serving(browser_workspace, "prod")
    assert expected_flagged == {"lab-prod:repair-cost:2"}, "the demo's planted truth changed"
    expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible()
    assert metric_value(page, "Versions") == str(len(expected_versions))
    assert metric_value(page, "Unapproved deployments") == str(len(expected_flagged))

    alert = h.main_area(page).locator('[data-testid="stAlertContentError"]')
    expect(alert).to_contain_text("repair-cost v2")
    expect(alert).to_contain_text("repair-cost-prod")
    expect(alert).to_contain_text("pending approval")

    rows = h.table_csv(page)
    assert set(rows["version_id"]) == set(expected_versions)
    assert set(rows["environment"]) == {"prod"}
    flagged = set(rows.loc[rows["flag"].str.contains("unapproved deployment"), "version_id"])
    assert flagged == expected_flagged
    h.assert_no_exception(page)
    h.screenshot(page, "journey-1-inventory-prod")


def test_demo_persona_switcher(new_page: Callable[..., Page], portal: Server) -> None:
    """Without a sign-in header, the demo workspace offers its persona switcher, and switching changes who acts."""
    page = new_page()  # no header: the demo's own "Acting as" selector decides
    h.open_page(page, portal.url, "", title="Model inventory")
    h.assert_no_exception(page)
    expect(h.sidebar(page)).to_contain_text("DEMO")
    h.choose(page, "stSelectbox", "Acting as", "Mia Chen (ML engineer)")
    expect(h.demo_banner(page)).to_contain_text(f"{h.ML_ENGINEER}")
    expect(h.demo_banner(page)).to_contain_text("(ml_engineer)")
    # the persona sticks when the user moves to another page of the same session
    h.sidebar(page).get_by_role("link", name="Requests").click()
    h.heading(page, "Promotion requests").wait_for()
    h.settle(page)
    expect(h.demo_banner(page)).to_contain_text("(ml_engineer)")
    expect(h.main_area(page).get_by_text("Request a promotion", exact=True)).to_be_visible()
    h.assert_no_exception(page)
    h.screenshot(page, "demo-persona-switcher")


# -- journey 2 ----------------------------------------------------------------------------------------------------


def test_journey_2_ml_engineer_requests_promotion(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path
) -> None:
    """The ML engineer asks to promote a staging version to prod and sees the request pending in the queue."""
    assert not [r for r in requests_of(browser_workspace, BIASED_VERSION) if r["status"] == "pending"]
    page = open_as(h.ML_ENGINEER)
    h.open_page(page, portal.url, "requests", title="Promotion requests")
    h.assert_no_exception(page)
    h.main_area(page).get_by_text("Request a promotion", exact=True).click()
    h.choose(page, "stSelectbox", "Version", BIASED_VERSION)
    h.choose(page, "stSelectbox", "To environment", "prod")
    reason = "v3 lifts AUC to 0.81 on the hold-out; please validate for production."
    h.fill(page, "stTextArea", "Reason", reason)
    h.click_button(page, "Submit request", exact=True)
    h.assert_no_exception(page)

    # the biased version's gates fail: the request is created with a warning naming them (issue 35, finding 10)
    created = h.alerts(page, "Warning").filter(has_text="created")
    expect(created).to_contain_text("gate(s) block its approval")
    match = REQUEST_ID.search(created.inner_text())
    assert match, created.inner_text()
    request_id = match.group(0)

    # the CLI (another process, same catalog) sees exactly what the page said it created
    stored = open_request(browser_workspace, BIASED_VERSION)
    assert stored["request_id"] == request_id
    assert stored["requester"] == h.ML_ENGINEER
    assert stored["reason"] == reason
    assert stored["approvals_required"] == 2  # the high tier of countersign.toml

    # the queue lists it; opened, it is pending with none of its two approvals yet
    queue = h.table_csv(page)
    row = queue[queue["request_id"] == request_id]
    assert list(row["status"]) == ["pending"] and list(row["version_id"]) == [BIASED_VERSION]
    h.choose(page, "stSelectbox", "Request", request_id)
    expect(h.main_area(page).get_by_role("heading", name=re.compile(re.escape(request_id)))).to_be_visible()
    assert metric_value(page, "Status") == "pending"
    assert metric_value(page, "Approvals") == "0/2"
    h.screenshot(page, "journey-2-request-created")


# -- journey 3 ----------------------------------------------------------------------------------------------------


def test_journey_3_requester_cannot_approve(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path
) -> None:
    """The same ML engineer sees no Approve button, and approving by force through the CLI is refused."""
    request = open_request(browser_workspace, BIASED_VERSION)
    request_id = request["request_id"]
    assert request["requester"] == h.ML_ENGINEER

    page = open_as(h.ML_ENGINEER)
    h.open_page(page, portal.url, f"requests?request={request_id}", title="Promotion requests")
    h.assert_no_exception(page)
    expect(h.main_area(page).get_by_role("heading", name=re.compile(re.escape(request_id)))).to_be_visible()
    main = h.main_area(page)
    expect(main.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(main.get_by_role("button", name="Reject", exact=True)).to_have_count(0)

    forced = cli("approve", request_id, "--workspace", str(browser_workspace), "--actor", h.ML_ENGINEER,
                 "--comment", "approving my own request", check=False)
    assert forced.returncode == 2, forced
    assert "may not approve" in forced.stderr, forced.stderr
    assert h.ML_ENGINEER in forced.stderr

    after = open_request(browser_workspace, BIASED_VERSION)
    assert (after["status"], after["approvals"]) == ("pending", 0)
    h.open_page(page, portal.url, f"requests?request={request_id}", title="Promotion requests")
    assert metric_value(page, "Approvals") == "0/2"
    h.assert_no_exception(page)
    h.screenshot(page, "journey-3-requester-no-approve")


# -- journey 6 (before 4: it leaves its request pending) -----------------------------------------------------------


def test_journey_6_biased_version_fails_four_fifths_and_needs_risk_acceptance(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path
) -> None:
    """The risk officer computes bias evidence, sees the four-fifths rule fail, and cannot approve without accepting."""
    import pandas as pd
    from fairlearn.metrics import demographic_parity_ratio

    request_id = open_request(browser_workspace, BIASED_VERSION)["request_id"]
    page = open_as(h.RISK_OFFICER)
    h.open_page(page, portal.url, f"review?version={BIASED_VERSION}", title="Review")
    h.assert_no_exception(page)
    h.click_button(page, "Compute missing evidence", timeout=120_000)
    h.assert_no_exception(page)

    bias = h.open_tab(page, "Bias")
    gender = bias.locator('[data-testid="stMetric"]').filter(has_text="Four-fifths rule").first
    expect(gender).to_contain_text("FAILS")
    # oracle: fairlearn on the version's validation file, read straight from the folder registry
    data = pd.read_parquet(browser_workspace / "registry" / "staging" / "credit-approval" / "3" / "validation.parquet")
    ratio = demographic_parity_ratio(data["label"], data["prediction"], sensitive_features=data["gender"])
    assert ratio < 0.8
    parity = bias.locator('[data-testid="stMetric"]').filter(has_text="Parity ratio").first
    expect(parity.locator('[data-testid="stMetricValue"]')).to_have_text(f"{ratio:.2f}")
    expect(bias.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    h.screenshot(page, "journey-6-review-bias")

    h.open_page(page, portal.url, f"requests?request={request_id}", title="Promotion requests")
    h.assert_no_exception(page)
    gates = h.main_area(page).locator('[data-testid="stMarkdown"]').filter(has_text="fairness")
    expect(gates.first).to_contain_text("fail")
    expect(h.alerts(page, "Info")).to_contain_text("Approving needs a risk acceptance")
    h.fill(page, "stTextArea", "Comment (required)", "Approving without looking at the fairness gate.")
    h.click_button(page, "Approve", exact=True)
    h.assert_no_exception(page)
    expect(h.alerts(page, "Error")).to_contain_text("gates block approval")
    after = open_request(browser_workspace, BIASED_VERSION)
    assert (after["status"], after["approvals"]) == ("pending", 0)
    h.screenshot(page, "journey-6-approval-blocked")


# -- journey 4 ----------------------------------------------------------------------------------------------------


def test_journey_4_risk_officer_reviews_approves_and_ledger_verifies(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path
) -> None:
    """Review evidence, read the gates, approve with a comment; the prod copy appears with provenance; ledger ok."""
    request_id = open_request(browser_workspace, OPEN_DEMO_VERSION)["request_id"]
    page = open_as(h.RISK_OFFICER)

    h.open_page(page, portal.url, f"review?version={OPEN_DEMO_VERSION}", title="Review")
    h.assert_no_exception(page)
    drift = h.open_tab(page, "Drift")
    expect(drift.locator('[data-testid="stMetric"]').filter(has_text="Dataset drift")).to_contain_text("no")
    expect(drift.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    bias = h.open_tab(page, "Bias")
    for metric in bias.locator('[data-testid="stMetric"]').filter(has_text="Four-fifths rule").all():
        expect(metric).to_contain_text("passes")
    expect(bias.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    explain = h.open_tab(page, "Explainability")
    expect(explain.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    h.assert_no_exception(page)

    h.open_page(page, portal.url, f"requests?request={request_id}", title="Promotion requests")
    h.assert_no_exception(page)
    for gate in ("metrics", "drift", "fairness", "model_card"):
        line = h.main_area(page).locator('[data-testid="stMarkdown"]').filter(has_text=gate).first
        expect(line).to_contain_text("pass")
    comment = "Drift, bias and SHAP reviewed; the online-channel flag behaves as documented. Approved."
    h.fill(page, "stTextArea", "Comment (required)", comment)
    h.click_button(page, "Approve", exact=True)
    expect(h.alerts(page, "Info").filter(has_text="This is the only approval needed")).to_contain_text(
        f"approving will promote {OPEN_DEMO_VERSION} to prod")
    assert requests_of(browser_workspace, OPEN_DEMO_VERSION)[0]["status"] == "pending"  # nothing happened yet
    h.click_button(page, "Confirm approval", exact=True, timeout=120_000)
    h.assert_no_exception(page)
    target = OPEN_DEMO_VERSION.replace("lab-staging:", "lab-prod:").replace(":3", ":3")
    promoted = h.alerts(page, "Success").filter(has_text="Promoted as lab-prod:claims-fraud:")
    expect(promoted.first).to_be_visible()
    expect(promoted.first).to_contain_text("Not deployed by Countersign")
    assert metric_value(page, "Status") == "executed"

    # oracle 1: the CLI's view of the request
    done = next(r for r in requests_of(browser_workspace, OPEN_DEMO_VERSION) if r["request_id"] == request_id)
    assert done["status"] == "executed"
    target = done["target_version_id"]
    assert target and target.startswith("lab-prod:claims-fraud:")
    # oracle 2: the prod folder registry itself holds the copy, pointing back at its source
    version_dir = browser_workspace / "registry" / "prod" / "claims-fraud" / target.rsplit(":", 1)[1]
    meta = json.loads((version_dir / "metadata.json").read_text())
    assert request_id in json.dumps(meta)
    assert "staging" in json.dumps(meta.get("source", meta))

    # the inventory, filtered to prod, lists the new version with its provenance
    h.open_page(page, portal.url, "", title="Model inventory")
    h.choose(page, "stMultiSelect", "Environment", "prod")
    rows = h.table_csv(page)
    row = rows[rows["version_id"] == target]
    assert list(row["source_version_id"]) == [OPEN_DEMO_VERSION]

    # the ledger shows the decision and the execution, and verifies (in the page and by the CLI)
    h.open_page(page, portal.url, "audit", title="Audit ledger")
    h.click_button(page, "Verify the ledger", exact=True)
    h.assert_no_exception(page)
    expect(h.alerts(page, "Success").first).to_be_visible()
    expect(h.alerts(page, "Error")).to_have_count(0)
    h.fill(page, "stTextInput", "Subject contains", request_id)
    entries = h.table_csv(page)
    actions = list(entries["action"])
    # ledger actions in words (issue 35, finding 11)
    assert "approved" in actions and "promotion executed" in actions, actions
    approve_row = entries[entries["action"] == "approved"]
    assert list(approve_row["actor"]) == [h.RISK_OFFICER]
    assert comment in approve_row["payload"].iloc[0]
    verified = json.loads(cli("ledger", "verify", "--workspace", str(browser_workspace), "--json").stdout)
    assert verified["ok"] is True and not verified["problems"]
    h.screenshot(page, "journey-4-ledger-verified")


# -- journey 5 ----------------------------------------------------------------------------------------------------


def test_journey_5_export_annex_iv_pdf_verifies(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path, tmp_path: Path
) -> None:
    """The risk officer builds the signed Annex IV PDF, downloads it, and `countersign pdf verify` accepts it."""
    from pypdf import PdfReader

    page = open_as(h.RISK_OFFICER)
    h.open_page(page, portal.url, f"export?version={OPEN_DEMO_VERSION}", title="Export")
    h.assert_no_exception(page)
    h.choose(page, "stSelectbox", "Template", "EU AI Act - Annex IV Technical Documentation (v1.2.0)")
    h.click_button(page, "Build and sign PDF", timeout=120_000)
    h.assert_no_exception(page)
    expect(h.alerts(page, "Success").filter(has_text="signed with the certificate of Rita Okafor")).to_be_visible()
    with page.expect_download(timeout=30_000) as dl:
        h.main_area(page).get_by_role("button", name="Download PDF").click()
    pdf = tmp_path / dl.value.suggested_filename
    dl.value.save_as(pdf)
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")

    # signed with the risk officer's own certificate (not the organisation seal): it is the trust anchor here
    cert = browser_workspace / "keys" / f"{h.RISK_OFFICER}.pem"
    result = json.loads(cli("pdf", "verify", str(pdf), "--trust", str(cert), "--json").stdout)
    assert result["ok"] is True, result
    (sig,) = result["signatures"]
    assert sig["intact"] and sig["valid"] and sig["trusted"] and sig["bottom_line"], sig
    assert sig["kind"] == "person" and sig["signer"] == "Rita Okafor", sig
    assert OPEN_DEMO_VERSION in sig["reason"] and h.RISK_OFFICER in sig["reason"]
    # the verifier is not a rubber stamp: one changed byte in the downloaded file is a finding (exit 1)
    data = bytearray(pdf.read_bytes())
    middle = len(data) // 3
    data[middle] = (data[middle] + 1) % 256
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    assert cli("pdf", "verify", str(tampered), "--trust", str(cert), check=False).returncode == 1
    text = "\n".join(p.extract_text() or "" for p in PdfReader(pdf).pages[:3])
    assert "Annex IV" in text and "claims-fraud" in text
    h.screenshot(page, "journey-5-export-signed")


# -- the first visit after a (re)start ----------------------------------------------------------------------------


def test_deep_link_right_after_start(browser_workspace: Path, empty_secrets: Path, browser, tmp_path: Path) -> None:
    """After a restart, a bookmarked /accounts (or an open tab reconnecting) shows the page, not a traceback."""
    request_id = h.request_without_evidence(browser_workspace)
    server = h.start_portal(browser_workspace, log=tmp_path / "portal.log", secrets=empty_secrets)
    ctx = h.new_context(browser, h.AUDITOR)
    try:
        page = ctx.new_page()
        page.goto(f"{server.url}/accounts")
        page.wait_for_selector(f'{h.EXCEPTION}, [data-testid="stHeading"]')
        h.settle(page)
        h.assert_no_exception(page)
        expect(h.demo_banner(page)).to_be_visible()
        # issue 35, finding 1: a request's deep link as the first visit of a fresh profile opens that request
        other = h.new_context(browser, h.AUDITOR)
        try:
            linked = other.new_page()
            linked.goto(f"{server.url}/requests?request={request_id}")
            h.heading(linked, "Promotion requests").first.wait_for(timeout=60_000)
            h.settle(linked, 60_000)
            h.assert_no_exception(linked)
            expect(h.main_area(linked)).to_contain_text(request_id)
        finally:
            other.close()
    finally:
        ctx.close()
        server.stop()
