"""Every page of the page table, as every demo persona and as a visitor who is not signed in."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from governance.context import Context
from governance.demo import PERSONAS
from portal.pages import pages
from tests.app.shown import texts

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.title)
def test_every_page_of_the_page_table_exists(page) -> None:
    assert (ROOT / page.path).is_file(), f"{page.path} is in the page table but not in the repository"



@pytest.mark.parametrize("persona", sorted(PERSONAS), ids=lambda e: e.split("@")[0])
def test_every_page_renders_for_every_persona(demo_workspace, app_factory, persona: str) -> None:
    at = app_factory(demo_workspace.root, persona=persona).run()
    assert not at.exception, at.exception
    assert "Demo workspace" in texts(at)
    for page in pages():
        at.switch_page(page.path).run()
        assert not at.exception, (page.path, at.exception)
        assert texts(at).strip(), f"{page.path} drew nothing"


def test_inventory_shows_models_across_environments_and_the_flag(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="risk.officer@demo.countersign.dev").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Models"] == "3"
    assert metrics["Versions"] == "23"
    assert metrics["Unapproved deployments"] == "1"
    assert "repair-cost v2" in at.error[0].value
    df = at.dataframe[0].value
    assert set(df["environment"]) == {"dev", "staging", "prod"}


def test_inventory_filters_narrow_the_table(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="auditor@demo.countersign.dev").run()
    at.multiselect(key="inv.env").set_value(["prod"]).run()
    df = at.dataframe[0].value
    assert set(df["environment"]) == {"prod"} and len(df) == 5
    at.text_input(key="inv.text").set_value("repair").run()
    assert set(at.dataframe[0].value["model"]) == {"repair-cost"}


def test_model_page_compares_metrics_and_shows_lineage(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="data.scientist@demo.countersign.dev").run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    at.selectbox(key="model.version").set_value("lab-prod:claims-fraud:2").run()
    assert not at.exception
    chart = at.get("vega_lite_chart")
    assert chart, "metrics chart missing"
    graph = at.get("graphviz_chart")[0].proto.spec
    assert "lab-dev:claims-fraud:2" in graph and "claims-fraud-prod" in graph
    assert "Intended uses" in texts(at)


def test_accounts_page_sync_now_for_an_engineer_only(demo_copy, app_factory) -> None:
    at = app_factory(demo_copy.root, persona="ml.engineer@demo.countersign.dev").run()
    at.switch_page("app_pages/accounts.py").run()
    at.button(key="accounts.sync").click().run()
    assert not at.exception
    assert "lab-prod" in texts(at)
    viewer = app_factory(demo_copy.root, persona="auditor@demo.countersign.dev").run()
    viewer.switch_page("app_pages/accounts.py").run()
    assert not [b for b in viewer.button if b.key == "accounts.sync"]
    # roles in words (issue 35, finding 11: "you are risk_officer")
    assert "Syncing needs the ML engineer or admin role; you are auditor" in texts(viewer)


def test_viewing_the_accounts_page_writes_nothing(demo_copy, app_factory) -> None:
    from governance.catalog import Catalog

    at = app_factory(demo_copy.root, persona="auditor@demo.countersign.dev").run()  # opening registers accounts
    catalog = Catalog(demo_copy.catalog_path)
    assert len(catalog.query_df("SELECT name FROM accounts")) == 3
    with catalog.transaction() as con:  # so that any write by the page would show
        con.execute("DELETE FROM accounts")
    at.switch_page("app_pages/accounts.py").run()
    assert not at.exception
    assert catalog.query_df("SELECT name FROM accounts").empty


@pytest.fixture
def private_workspace(demo_workspace, tmp_path: Path) -> Path:
    """The demo data in a workspace that is not marked as a demo: no persona switcher."""
    root = tmp_path / "ws"
    shutil.copytree(demo_workspace.root, root)
    cfg = root / "countersign.toml"
    cfg.write_text(cfg.read_text().replace("demo = true", "demo = false"))
    return root


def test_a_visitor_without_sign_in_sees_no_data(private_workspace: Path, app_factory) -> None:
    at = app_factory(private_workspace).run()
    assert not at.exception
    assert "Sign-in is not configured" in texts(at)
    assert not at.dataframe and not at.metric
    assert not [s for s in at.sidebar.selectbox if s.key == "cs.persona.picker"]
    assert "Demo workspace" not in texts(at)


def test_oidc_user_without_role_sees_no_data_and_with_role_sees_inventory(private_workspace: Path, app_factory) -> None:
    at = app_factory(private_workspace)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "c", "client_secret": "s",
                          "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    at.run()
    assert "Sign in" in [b.label for b in at.button]
    assert not at.dataframe
    at.user = {"is_logged_in": True, "email": "stranger@bank.example"}  # type: ignore[assignment]
    at.run()
    assert "No access yet" in texts(at) and not at.dataframe
    at.user = {"is_logged_in": True, "email": "risk.officer@demo.countersign.dev"}  # type: ignore[assignment]
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Models"] == "3"


def test_trusted_headers_need_trusted_proxies_to_start(private_workspace: Path, app_factory) -> None:
    """Issue 34, finding 10: without ``trusted_proxies`` the portal refuses the workspace and says what to add."""
    cfg = private_workspace / "countersign.toml"
    cfg.write_text(cfg.read_text() + "\n[auth]\ntrusted_headers = true\n")
    at = app_factory(private_workspace).run()
    assert not at.exception
    assert "Countersign cannot open its workspace" in texts(at)
    assert "trusted_headers = true needs trusted_proxies" in texts(at)
    # issue 35, finding 6: the hint is to fix the file, not to build a demo
    assert "then reload this page" in texts(at) and "countersign demo" not in texts(at)
    assert not at.dataframe and not at.metric


def test_trusted_headers_from_a_peer_that_is_no_trusted_proxy_show_no_data(private_workspace: Path,
                                                                          app_factory) -> None:
    """AppTest has no connection at all: an unknown peer is not a trusted proxy (fail closed)."""
    cfg = private_workspace / "countersign.toml"
    cfg.write_text(cfg.read_text() + '\n[auth]\ntrusted_headers = true\ntrusted_proxies = ["10.0.0.5/32"]\n')
    at = app_factory(private_workspace).run()
    assert not at.exception
    assert "Access refused" in texts(at) and "an unknown address" in texts(at)
    assert not at.dataframe and not at.metric


def test_prod_deployment_approved_in_the_registry_but_not_in_countersign_is_flagged(demo_copy, app_factory) -> None:
    import json

    from governance.catalog import Catalog
    from governance.config import load_settings
    from governance.identity import Identity
    from governance.sync import sync

    # someone approves repair-cost v2 directly in the registry, bypassing Countersign
    meta_path = demo_copy.root / "registry" / "prod" / "repair-cost" / "2" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["approval_status"] = "Approved"
    meta_path.write_text(json.dumps(meta))
    sync(Context(demo_copy, load_settings(demo_copy), Catalog(demo_copy.catalog_path), Identity("admin@x", frozenset({"admin"}))))
    at = app_factory(demo_copy.root, persona="auditor@demo.countersign.dev").run()
    assert {m.label: m.value for m in at.metric}["Unapproved deployments"] == "1"
    assert "repair-cost v2" in at.error[0].value
    # the wording the binding check uses everywhere (issue 31): how it serves, then what is wrong
    assert "serves on endpoint repair-cost-prod (prod) but was never approved in Countersign" in at.error[0].value
    assert "registry status" not in at.error[0].value
    df = at.dataframe[0].value
    flags = dict(zip(df["version_id"], df["flag"], strict=True))
    assert flags["lab-prod:repair-cost:2"] == "⚠ no Countersign sign-off"
    assert flags["lab-prod:claims-fraud:2"] == ""  # promoted through Countersign


def test_a_long_list_of_flagged_deployments_is_capped_and_one_toggle_lists_them(tmp_path, app_factory) -> None:
    from connectors.base import DeploymentRecord, Snapshot, VersionRecord
    from governance.catalog import Catalog
    from governance.config import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text('[environments]\norder = ["dev", "prod"]\n[workspace]\ndemo = true\n'
                              '[roles]\n"auditor@demo.countersign.dev" = ["auditor"]\n', encoding="utf-8")
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    at_ = dt.datetime(2026, 1, 1)
    versions = [VersionRecord(model=f"m{i:02d}", version=v, source_ref=f"m{i}/{v}", approval_status="Approved",
                              created_at=at_, created_by="ds@x") for i in range(12) for v in (1, 2)]
    deployments = [DeploymentRecord(endpoint=f"ep{i:02d}", variant="v", status="InService", version_ref=f"m{i}/2")
                   for i in range(12)]
    catalog.apply_snapshot(sync_id="s", account="acc-prod", environment="prod", started_at=at_, full=True,
                           actor="test", snapshot=Snapshot(versions=tuple(versions), deployments=tuple(deployments)))
    at = app_factory(ws.root, persona="auditor@demo.countersign.dev").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Unapproved deployments"] == "12"
    box = next(e.value for e in at.error if "serves on" in e.value)  # the ledger banner may come first: no ledger here
    assert box.count("serves on") == 5 and "…and 7 more" in box
    assert len(at.dataframe[0].value) == 24
    at.toggle(key="inv.only_flagged").set_value(True).run()
    shown = at.dataframe[0].value
    assert sorted(shown["version_id"]) == [f"acc-prod:m{i:02d}:2" for i in range(12)]
    assert set(shown["flag"]) == {"⚠ no Countersign sign-off"}


def test_the_portal_holds_the_catalog_only_while_a_page_runs(demo_copy, app_factory) -> None:
    import subprocess
    import sys

    from governance.catalog import Catalog

    at = app_factory(demo_copy.root, persona="risk.officer@demo.countersign.dev").run()
    assert not at.exception and at.dataframe
    assert Catalog(demo_copy.catalog_path).kept_cache() is None  # released when the run ended, not lingering
    done = subprocess.run([sys.executable, "-m", "countersign_cli", "models", "--workspace", str(demo_copy.root),
                           "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr  # the CLI, another process, opens it


def test_the_demo_persona_survives_a_reload_through_the_url(demo_workspace, app_factory) -> None:
    auditor = "auditor@demo.countersign.dev"
    at = app_factory(demo_workspace.root, persona=auditor).run()
    assert at.query_params["as"] == auditor
    # a reload: a new session with only the URL
    fresh = app_factory(demo_workspace.root)
    fresh.query_params["as"] = auditor
    fresh.run()
    assert not fresh.exception
    assert fresh.session_state["cs.persona"] == auditor
    assert "Ada Brandt" in fresh.warning[0].value


def test_registry_labels_show_on_the_inventory_and_the_model_page(demo_copy, app_factory) -> None:
    import datetime as dt

    from connectors.base import Snapshot, VersionRecord
    from governance.catalog import Catalog

    # an MLflow-like account whose aliases mean environments: version 7 holds "champion", which means prod
    Catalog(demo_copy.catalog_path).apply_snapshot(
        sync_id="labels", account="mlreg", environment="dev", started_at=dt.datetime(2026, 5, 1), full=True,
        actor="test", snapshot=Snapshot(versions=(VersionRecord(
            model="claims-fraud", version=7, source_ref="models:/claims-fraud/7", approval_status="Approved",
            created_at=dt.datetime(2026, 5, 1), labels=("champion",), environment="prod"),)))
    at = app_factory(demo_copy.root, persona="auditor@demo.countersign.dev").run()
    table = at.dataframe[0]
    assert "labels" in table.proto.column_order
    row = table.value.set_index("version_id").loc["mlreg:claims-fraud:7"]
    assert row["environment"] == "prod" and list(row["labels"]) == ["champion"]
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    assert not at.exception
    assert "v7 " in texts(at) and ":violet-badge[champion]" in texts(at)
