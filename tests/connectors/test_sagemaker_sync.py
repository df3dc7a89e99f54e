"""SageMaker accounts synced into a real catalog: three accounts on a moto server reached by AssumeRole.

The scenario is seeded once for this module and never changed here (tests that change the accounts live in
test_sagemaker_changes.py); faults come from a proxy in front of moto, not from editing the accounts.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import Identity, os_user
from governance.sources import version_file
from governance.sync import sync
from tests.connectors import sagemaker_seed as seed

ROOT = Path(__file__).resolve().parents[2]
ACTOR = Identity("ml.engineer@example.com", frozenset({"ml_engineer"}), source="cli")


def make_workspace(tmp_path: Path, accounts: dict | None = None) -> tuple[Workspace, Catalog]:
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text(seed.workspace_toml(accounts))
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    return ws, catalog


def run_sync(ws: Workspace, catalog: Catalog, **kw):
    return sync(Context(ws, load_settings(ws), catalog, ACTOR), **kw)


def versions(catalog: Catalog) -> pd.DataFrame:
    return catalog.query_df("SELECT * FROM versions ORDER BY version_id")


def last_runs(catalog: Catalog, report=None) -> dict[str, dict]:
    """The sync run rows of ``report`` (by sync id: sync_runs times have one-second resolution), else the newest."""
    if report is not None:
        ids = [r.sync_id for r in report.results]
        df = catalog.query_df("SELECT * FROM sync_runs WHERE sync_id IN (SELECT unnest(?))", [ids])
    else:
        df = catalog.query_df("SELECT * FROM sync_runs QUALIFY row_number() OVER "
                              "(PARTITION BY account ORDER BY started_at DESC, sync_id DESC) = 1")
    return {r["account"]: r for r in df.to_dict("records")}


@pytest.fixture(scope="module")
def scenario(aws_base_env) -> seed.Scenario:
    aws_base_env.reset()
    return seed.seed_scenario()


@dataclass(frozen=True)
class Synced:
    ws: Workspace
    catalog: Catalog
    first: dict[str, dict]
    second: dict[str, dict]
    first_digest: str
    second_digest: str
    second_statuses: tuple[str, ...]


@pytest.fixture(scope="module")
def synced(scenario: seed.Scenario, tmp_path_factory: pytest.TempPathFactory) -> Synced:
    """The scenario synced into a fresh workspace, then synced again without any change at the source."""
    ws, catalog = make_workspace(tmp_path_factory.mktemp("synced"))
    report = run_sync(ws, catalog)
    assert [r.status for r in report.results] == ["ok", "ok", "ok"], [r.error or r.issues for r in report.results]
    first, digest = last_runs(catalog, report), catalog.table_digest()
    again = run_sync(ws, catalog)
    return Synced(ws, catalog, first, last_runs(catalog, again), digest, catalog.table_digest(),
                  tuple(r.status for r in again.results))


def test_full_sync_holds_exactly_what_was_seeded(scenario: seed.Scenario, synced: Synced) -> None:
    catalog = synced.catalog
    rows = versions(catalog)
    for account, (account_id, env) in seed.ACCOUNTS.items():
        mine = rows[rows.account == account]
        seeded = scenario.of(account)
        assert len(mine) == len(seeded)
        # isolation: every version of an account carries that account's ARNs and environment, nothing else
        assert mine.source_ref.str.contains(f":{account_id}:model-package/").all()
        assert (mine.environment == env).all()
    # pagination: the 105-version group arrived whole
    fraud = rows[(rows.account == "ml-dev") & (rows.model == "claims-fraud")]
    assert sorted(fraud.version) == list(range(1, 106))

    by_id = rows.set_index("version_id")
    for sv in scenario.versions:
        row = by_id.loc[f"{sv.account}:{sv.group}:{sv.version}"]
        assert row.source_ref == sv.arn
        assert row.approval_status == sv.status
        assert row.artifact_uri == sv.artifact_uri
        if sv.created_by:
            assert row.created_by == sv.created_by
        else:  # no Countersign metadata: SageMaker's own CreatedBy identity
            assert row.created_by
        assert json.loads(row.metrics) == pytest.approx(sv.metrics)
        for name, uri in sv.report_uris.items():
            assert json.loads(row.report_uris)[name] == uri
        assert row.run_id == (f"{sv.account}:training-job/{sv.training_job}" if sv.training_job else None)
    assert set(rows.approval_status) == set(seed.STATUSES)

    # training jobs: hyperparameters and input channels; trial components with their experiment
    runs = catalog.query_df("SELECT * FROM runs")
    for account, jobs in scenario.training_jobs.items():
        for job, facts in jobs.items():
            run = catalog.run(f"{account}:training-job/{job}")
            assert run is not None and run["kind"] == "training_job"
            assert run["params"] == facts["hyperparameters"]
            assert run["inputs"] == facts["inputs"]
            assert run["raw"]["instance_type"] == "ml.m5.large"
    for account, comps in scenario.trial_components.items():
        for name, facts in comps.items():
            run = catalog.run(f"{account}:trial-component/{name}")
            assert run["experiment"] == facts["experiment"]
            assert run["params"]["algorithm"] == facts["params"]["algorithm"]
            assert float(run["params"]["learning_rate"]) == pytest.approx(float(facts["params"]["learning_rate"]))
            assert run["inputs"] == facts["inputs"]
    expected_runs = sum(len(j) for j in scenario.training_jobs.values()) + sum(
        len(c) for c in scenario.trial_components.values())
    assert len(runs) == expected_runs

    # data sets of a trained version come from its training channels
    v1 = catalog.version("ml-dev:credit-approval:1")
    channels = scenario.training_jobs["ml-dev"]["credit-approval-train-1"]["inputs"]
    assert v1.data_uris == {"reference": channels["train"], "validation": channels["validation"]}

    # endpoints map back to the versions they serve; the unapproved one is flagged in the inventory
    deps = catalog.deployments()
    assert len(deps) == sum(len(e) for e in scenario.endpoints.values())
    for account, eps in scenario.endpoints.items():
        for name, facts in eps.items():
            dep = deps[deps.endpoint == name].iloc[0]
            sv = facts["version"]
            assert dep.account == account and dep.version_id == f"{account}:{sv.group}:{sv.version}"
            assert dep.status == "InService" and dep.weight == 1.0
    inv = catalog.inventory().set_index("version_id")
    repair = scenario.endpoints["ml-prod"]["repair-cost-prod"]["version"]
    assert bool(inv.loc[f"ml-prod:repair-cost:{repair.version}", "unapproved_deployment"]) is (repair.status != "Approved")

    # the model card: content, linked version, and the risk rating as the model's tier
    card = catalog.model_card("credit-approval")
    facts = scenario.cards["ml-prod"]["credit-approval-card"]
    assert card["content"] == facts["content"] and card["status"] == "Approved"
    card_row = catalog.query_df("SELECT version_id FROM model_cards").iloc[0]
    assert card_row.version_id == f"ml-prod:credit-approval:{facts['version'].version}"
    assert catalog.model("credit-approval").risk_tier == "high"
    assert catalog.model("claims-fraud").tags == {"team": "fraud"}


def test_data_capture_becomes_the_current_dataset(scenario: seed.Scenario, synced: Synced) -> None:
    served = scenario.endpoints["ml-prod"]["credit-approval-prod"]["version"]
    version = synced.catalog.version(f"ml-prod:credit-approval:{served.version}")
    assert version.data_uris["current"].startswith("capture+s3://")
    path = version_file(synced.ws, load_settings(synced.ws), version, "current")
    assert path.suffix == ".parquet" and path.is_relative_to(synced.ws.cache_dir)
    assert path.name.split(".")[0] == hashlib.sha256(path.read_bytes()).hexdigest()  # content-addressed
    frame = pd.read_parquet(path).sort_values("income").reset_index(drop=True)
    # column names come from the version's baseline statistics; values are exactly the captured rows
    expected = pd.DataFrame(scenario.captures["credit-approval-prod"], columns=list(seed.FEATURES))
    pd.testing.assert_frame_equal(frame[list(seed.FEATURES)], expected.sort_values("income").reset_index(drop=True))
    assert frame["prediction"].notna().all() and frame["_event_id"].is_unique


def test_no_change_resync_is_cheap_and_changes_nothing(synced: Synced) -> None:
    assert synced.second_statuses == ("ok", "ok", "ok")
    assert synced.second_digest == synced.first_digest
    for account in seed.ACCOUNTS:
        counts = json.loads(synced.second[account]["counts"])
        assert all(t["added"] == t["updated"] == t["deleted"] == 0 for t in counts.values()), counts
        assert synced.second[account]["calls"] * 4 < synced.first[account]["calls"], account
        assert not synced.second[account]["full_sync"] and synced.first[account]["full_sync"]
    # listing a 108-version account again costs a handful of calls, not one per version
    assert synced.second["ml-dev"]["calls"] <= 10 < 108 < synced.first["ml-dev"]["calls"]


def test_failed_role_assumption_is_recorded_and_others_sync(scenario, fault_proxy, aws_profiles, tmp_path) -> None:
    aws_profiles({"staging-via-proxy": fault_proxy.url})
    fault_proxy.fail("AssumeRole", status=403, code="AccessDenied")
    ws, catalog = make_workspace(tmp_path, {"ml-staging": {"profile": "staging-via-proxy"}})
    report = run_sync(ws, catalog, accounts=["ml-staging", "ml-prod"])
    status = {r.account: r for r in report.results}
    assert last_runs(catalog, report)["ml-staging"]["status"] == "failed"
    assert status["ml-staging"].status == "failed" and "AccessDenied" in status["ml-staging"].error
    assert status["ml-prod"].status == "ok"
    rows = versions(catalog)
    assert "ml-staging" not in set(rows.account)
    assert len(rows) == len(scenario.of("ml-prod"))
    assert fault_proxy.count("AssumeRole") >= 1



def test_unimplemented_optional_api_keeps_the_rest(scenario, fault_proxy, aws_profiles, tmp_path) -> None:
    aws_profiles({"prod-via-proxy": fault_proxy.url})
    ws, catalog = make_workspace(tmp_path, {"ml-prod": {"profile": "prod-via-proxy"}})
    run_sync(ws, catalog, accounts=["ml-prod"])
    cards_before = catalog.counts()["model_cards"]
    assert cards_before == 1
    fault_proxy.fail("ListModelCards", status=500, code="InternalFailure")
    report = run_sync(ws, catalog, accounts=["ml-prod"], full=True).results[0]
    assert report.status == "partial" and any("model-cards" in i for i in report.issues)
    # a full pass with a missing listing must not delete what that listing would have shown
    assert catalog.counts()["model_cards"] == cards_before
    assert len(versions(catalog)) == len(scenario.of("ml-prod"))


def test_throttling_is_backed_off_and_counted(scenario, fault_proxy, aws_profiles, tmp_path) -> None:
    aws_profiles({"prod-via-proxy": fault_proxy.url})
    fault_proxy.fail("ListModelPackages", status=400, code="ThrottlingException", times=1)
    ws, catalog = make_workspace(tmp_path, {"ml-prod": {"profile": "prod-via-proxy"}})
    report = run_sync(ws, catalog, accounts=["ml-prod"])
    result = report.results[0]
    assert result.status == "ok" and result.throttled == 1
    assert last_runs(catalog, report)["ml-prod"]["throttled"] == 1
    assert len(versions(catalog)) == len(scenario.of("ml-prod"))


def test_cli_sync_populates_the_catalog(scenario, tmp_path) -> None:
    pytest.importorskip("countersign_cli.commands.catalog", reason="the lead's `countersign sync` command has not landed")
    ws, catalog = make_workspace(tmp_path)
    # the command line acts as the operating-system user, with the roles [roles] grants to "os:<user>"
    ws.config_path.write_text(seed.workspace_toml().replace(
        "[roles]\n", f'[roles]\n"os:{os_user()}" = ["ml_engineer"]\n'), encoding="utf-8")
    env = {**os.environ, "COUNTERSIGN_ACTOR": ""}
    done = subprocess.run([sys.executable, "-m", "countersign_cli", "sync", "--workspace", str(ws.root), "--account",
                           "ml-prod", "--full"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(versions(catalog)) == len(scenario.of("ml-prod"))
    assert last_runs(catalog)["ml-prod"]["full_sync"]


def test_a_version_that_cannot_be_described_is_kept_by_a_full_sync(scenario, fault_proxy, aws_profiles, tmp_path):
    aws_profiles({"prod-via-proxy": fault_proxy.url})
    ws, catalog = make_workspace(tmp_path, {"ml-prod": {"profile": "prod-via-proxy", "max_concurrency": 1}})
    run_sync(ws, catalog, accounts=["ml-prod"])
    before = set(versions(catalog).version_id)
    fault_proxy.fail("DescribeModelPackage", status=500, code="InternalFailure", times=2)  # one call, both attempts
    result = run_sync(ws, catalog, accounts=["ml-prod"], full=True).results[0]
    assert result.status == "partial" and sum("describe failed" in i for i in result.issues) == 1
    assert set(versions(catalog).version_id) == before == {
        f"ml-prod:{v.group}:{v.version}" for v in scenario.of("ml-prod")}


def test_a_training_job_that_cannot_be_read_leaves_its_version_as_it_was(scenario, fault_proxy, aws_profiles,
                                                                          tmp_path) -> None:
    aws_profiles({"prod-via-proxy": fault_proxy.url})
    ws, catalog = make_workspace(tmp_path, {"ml-prod": {"profile": "prod-via-proxy"}})
    run_sync(ws, catalog, accounts=["ml-prod"])
    trained = next(v for v in scenario.of("ml-prod") if v.training_job)
    before = catalog.version(f"ml-prod:{trained.group}:{trained.version}")
    assert before.data_uris["reference"]
    digest = catalog.table_digest(("versions",))
    fault_proxy.fail("DescribeTrainingJob", status=500, code="InternalFailure", times=2)
    result = run_sync(ws, catalog, accounts=["ml-prod"], full=True).results[0]
    assert result.status == "partial" and any(trained.training_job in i for i in result.issues)
    assert catalog.table_digest(("versions",)) == digest
    # the next sync retries that version and completes
    assert run_sync(ws, catalog, accounts=["ml-prod"]).results[0].status == "ok"
    assert catalog.version(before.version_id).data_uris == before.data_uris
