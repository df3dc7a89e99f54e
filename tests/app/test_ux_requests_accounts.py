"""Requests, Accounts and Inventory as a user meets them: actions after a refusal, empty states, deep links,
whole comments, readable evidence, a status table that shows the sync just run, and version ids shown whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.demo_history import NO_TRAFFIC, open_request_id
from governance.identity import identity_for
from governance.promotion import create_request, get_request, list_requests
from tests.app.shown import plain, texts

D = "demo.countersign.dev"
CREDIT = "lab-staging:credit-approval:3"  # fails four-fifths on gender (docs/demo.md, planted truth 2)
ACTIONS = {"req.approve", "req.reject", "req.cancel", "req.execute"}



def requests_page(app_factory, root: Path, persona: str, **query: str):
    at = app_factory(root, persona=f"{persona}@{D}")
    at.query_params.update(query)
    at.run()
    at.switch_page("app_pages/requests.py").run()
    assert not at.exception, at.exception
    return at


def buttons(at) -> set[str]:
    return {b.key for b in at.button}


@pytest.fixture(scope="module")
def credit_workspace(demo_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The demo plus a pending request to put credit-approval v3 in prod, with the bias evidence that fails it.

    Read-only: use ``credit_copy`` to decide on the request."""
    from governance.evidence import review_version

    ws = Workspace(tmp_path_factory.mktemp("credit") / "ws")
    shutil.copytree(demo_workspace.root, ws.root)
    settings, catalog = load_settings(ws), Catalog(ws.catalog_path)
    review_version(ws, settings, catalog, CREDIT, actor=identity_for(settings, f"data.scientist@{D}", source="demo"),
                   kinds=("bias",))
    create_request(Context(ws, settings, catalog, identity_for(settings, f"ml.engineer@{D}", source="demo")), CREDIT, "prod",
                   "Best AUC of the credit models; please review.")
    return ws


@pytest.fixture
def credit_copy(credit_workspace: Workspace, tmp_path: Path) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(credit_workspace.root, target)
    return Workspace(target)


def credit_request_id(catalog: Catalog) -> str:
    queue = list_requests(catalog)
    return str(queue.loc[queue["version_id"] == CREDIT, "request_id"].iloc[0])


# -- 1. a refused action keeps the other actions ----------------------------------------------------------------


def test_a_refused_approval_leaves_every_allowed_action_on_screen(credit_copy: Workspace, app_factory) -> None:
    catalog = Catalog(credit_copy.catalog_path)
    rid = credit_request_id(catalog)
    at = requests_page(app_factory, credit_copy.root, "risk.officer")
    at.selectbox(key="req.id").set_value(rid).run()
    offered = buttons(at) & ACTIONS
    assert offered == {"req.approve", "req.reject"}

    at.button(key="req.approve").click().run()  # no comment
    assert not at.exception, at.exception
    assert "comment is required" in texts(at)
    assert buttons(at) & ACTIONS == offered

    at.text_area(key="req.comment").set_value("Fairness evidence reviewed.").run()
    at.button(key="req.approve").click().run()  # four-fifths fails and no risk acceptance is recorded
    assert "Reject it, or record a risk acceptance" in texts(at)
    assert buttons(at) & ACTIONS == offered
    assert get_request(catalog, rid).status == "pending"

    at.text_area(key="req.comment").set_value("Approval rate for women is a third of the rate for men.").run()
    at.button(key="req.reject").click().run()  # the Reject button the error points to works
    assert not at.exception, at.exception
    assert get_request(catalog, rid).status == "rejected"
    assert f"{rid} is rejected." in texts(at)  # the outcome survives the rerun that redraws the request


# -- 2. empty states ------------------------------------------------------------------------------------------


def test_a_filter_matching_nothing_is_not_mistaken_for_an_empty_queue(demo_workspace, app_factory) -> None:
    at = requests_page(app_factory, demo_workspace.root, "auditor")
    total = len(at.dataframe[0].value)
    at.multiselect(key="req.status").set_value(["failed"]).run()
    shown = texts(at)
    assert "No promotion requests yet" not in shown
    assert "No request matches these filters" in shown and f"{total} requests in all" in shown
    at.button(key="req.clear_filters").click().run()
    assert at.multiselect(key="req.status").value == []
    assert len(at.dataframe[0].value) == total


def test_a_workspace_without_requests_says_how_to_create_one(tmp_path: Path, app_factory) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text('[environments]\norder = ["dev", "prod"]\n[workspace]\ndemo = true\n'
                              f'[roles]\n"ml.engineer@{D}" = ["ml_engineer"]\n"auditor@{D}" = ["auditor"]\n',
                              encoding="utf-8")
    Catalog(ws.catalog_path).migrate()
    engineer = requests_page(app_factory, ws.root, "ml.engineer")
    assert "No promotion requests yet. Open **Request a promotion** above" in texts(engineer)
    auditor = requests_page(app_factory, ws.root, "auditor")
    assert "No promotion requests yet. An ML engineer requests one" in texts(auditor)


# -- 3. ?version= and ?request= ---------------------------------------------------------------------------------


def test_version_link_lists_only_that_versions_requests(credit_workspace: Workspace, app_factory) -> None:
    at = requests_page(app_factory, credit_workspace.root, "risk.officer", version=CREDIT)
    assert set(at.dataframe[0].value["version_id"]) == {CREDIT}
    assert at.selectbox(key="req.id").value == credit_request_id(Catalog(credit_workspace.catalog_path))
    at.button(key="req.clear").click().run()  # Show all requests
    assert "version" not in at.query_params
    assert len(at.dataframe[0].value) == len(list_requests(Catalog(credit_workspace.catalog_path)))


def test_version_link_without_requests_says_so_and_preselects_it_for_a_request(demo_workspace, app_factory) -> None:
    vid = "lab-dev:claims-fraud:4"
    at = requests_page(app_factory, demo_workspace.root, "ml.engineer", version=vid)
    assert f"No promotion request for **{vid}** yet. Open **Request a promotion** above" in texts(at)
    assert not at.dataframe and "req.id" not in {s.key for s in at.selectbox}
    assert at.selectbox(key="req.new.version").value == vid


def test_request_link_opens_that_request_and_an_unknown_one_is_named(demo_workspace, app_factory) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    oldest = str(list_requests(catalog)["request_id"].iloc[-1])
    at = requests_page(app_factory, demo_workspace.root, "auditor", request=oldest)
    assert at.selectbox(key="req.id").value == oldest
    assert plain(at.subheader[0].value).startswith(f"{oldest}:")

    at = requests_page(app_factory, demo_workspace.root, "auditor", request="PR-20990101-nothere")
    assert "There is no promotion request **PR-20990101-nothere**" in " ".join(w.value for w in at.warning)
    assert at.selectbox(key="req.id").value is None  # no other request stands in for it
    assert "Policy gates" not in texts(at)
    at.selectbox(key="req.id").set_value(open_request_id(catalog)).run()
    assert "Policy gates" in texts(at) and "request" not in at.query_params


def test_a_version_whose_registry_records_no_digest_says_so_not_none(demo_copy: Workspace, app_factory) -> None:
    # MLflow and ZenML registries record no artifact sha256: the request shows that, not "sha256 None…"
    catalog = Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    version_id = get_request(catalog, rid).version_id
    with catalog.transaction() as con:
        digest = con.execute("SELECT artifact_sha256 FROM versions WHERE version_id = ?", [version_id]).fetchone()[0]
        con.execute("UPDATE versions SET artifact_sha256 = NULL WHERE version_id = ?", [version_id])
    caption = "\n".join(c.value for c in requests_page(app_factory, demo_copy.root, "auditor", request=rid).caption)
    assert "the registry records no artifact sha256" in caption and "None" not in caption, caption
    with catalog.transaction() as con:
        con.execute("UPDATE versions SET artifact_sha256 = ? WHERE version_id = ?", [digest, version_id])
    caption = "\n".join(c.value for c in requests_page(app_factory, demo_copy.root, "auditor", request=rid).caption)
    assert f"artifact sha256 {digest[:16]}…" in caption, caption


# -- 4. whole comments, readable evidence ------------------------------------------------------------------------


def test_decision_comments_are_shown_whole(demo_workspace, app_factory) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    queue = list_requests(catalog)
    rid = str(queue.loc[queue["version_id"] == "lab-staging:credit-approval:1", "request_id"].iloc[0])
    at = requests_page(app_factory, demo_workspace.root, "auditor", request=rid)
    comments = list(at.table[0].value["Comment"])  # a static table wraps text; a data grid cuts it off
    assert NO_TRAFFIC in comments  # the risk acceptance's justification, 179 characters
    assert "Independent validation complete; second approval under the high-risk tier." in comments


def test_evidence_is_titled_and_summarised_with_json_only_on_demand(demo_workspace, app_factory) -> None:
    at = requests_page(app_factory, demo_workspace.root, "auditor", request=open_request_id(
        Catalog(demo_workspace.catalog_path)))
    shown = texts(at)
    assert "**Drift**" in shown and "drift share 0.00: dataset not drifted" in shown
    assert "**Bias**" in shown and "gender: disparate impact 0.99, four-fifths pass" in shown
    assert "`ev-" in shown  # each card names its evidence
    boxes = [e for e in at.expander if e.label == "Summary as JSON"]
    # drift and bias read by the gates, explain stored beside them: every stored kind is listed (issue 36)
    assert len(boxes) == 3 and all(len(b.get("json")) == 1 for b in boxes)
    assert len(at.json) == 3  # no JSON outside those expanders
    assert "No drift" not in shown and "No evidence" not in shown


def test_failing_and_missing_evidence_are_spelled_out(credit_workspace: Workspace, app_factory) -> None:
    rid = credit_request_id(Catalog(credit_workspace.catalog_path))
    at = requests_page(app_factory, credit_workspace.root, "data.scientist", request=rid)
    shown = texts(at)
    assert "**Bias**" in shown and "gender: disparate impact 0.3" in shown and "four-fifths FAIL" in shown
    assert f"No drift evidence on record for {CREDIT}. Compute it on the **Review** page." in shown
    at.button(key="req.review").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="review.version").value == CREDIT


# -- 5. Accounts: the table after Sync now ----------------------------------------------------------------------


def test_sync_now_redraws_the_status_table_with_the_sync_just_run(demo_copy: Workspace, app_factory) -> None:
    dev = demo_copy.root / "registry" / "dev" / "claims-fraud"
    shutil.copytree(dev / "4", dev / "5")  # a new version registered in lab-dev since the last sync
    at = app_factory(demo_copy.root, persona=f"ml.engineer@{D}").run()
    at.switch_page("app_pages/accounts.py").run()

    def versions() -> int:
        table = at.dataframe[0].value
        return int(table.loc[table["account"] == "lab-dev", "versions"].iloc[0])

    before = versions()
    at.multiselect(key="accounts.chosen").set_value(["lab-dev"]).run()
    at.button(key="accounts.sync").click().run()
    assert not at.exception, at.exception
    assert "**lab-dev** " in texts(at) and "incremental sync found 1 new" in texts(at)
    assert versions() == before + 1


def test_an_account_whose_aliases_mean_environments_lists_every_environment_it_holds(demo_copy: Workspace,
                                                                                    app_factory) -> None:
    config = demo_copy.config_path
    config.write_text(config.read_text(encoding="utf-8") + (
        '\n[[accounts]]\nname = "mlflow-lab"\nenvironment = "dev"\nconnector = "mlflow"\n'
        'tracking_uri = "http://127.0.0.1:9"\nalias_environments = { champion = "prod", challenger = "staging" }\n'),
        encoding="utf-8")
    Catalog(demo_copy.catalog_path).upsert_accounts(load_settings(demo_copy).accounts)  # listed before any sync
    at = app_factory(demo_copy.root, persona=f"ml.engineer@{D}").run()
    at.switch_page("app_pages/accounts.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("account")["environment"]
    assert table["mlflow-lab"] == "dev, staging, prod" and table["lab-dev"] == "dev"


# -- 6. Inventory: ids shown whole ------------------------------------------------------------------------------


def test_inventory_columns_are_wide_enough_for_whole_ids(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=f"auditor@{D}").run()
    table = at.dataframe[0]
    config = json.loads(table.proto.columns)
    for column in ("version_id", "deployed_on"):
        longest = table.value[column].dropna().str.len().max()
        # 7 px a character is a narrow average for the grid's 14 px sans-serif font
        assert config[column].get("width", 0) >= 7 * longest, (column, config[column])
