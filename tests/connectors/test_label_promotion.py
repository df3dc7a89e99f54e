"""Promotions through governance against real MLflow and ZenML servers: request, two approvals, execution.

One registry whose labels mean environments (MLflow aliases, ZenML stages) is one account holding several
environments: the promotion moves the label on the version itself and the catalog shows the version in the target
environment. Two MLflow servers as two accounts: the promotion registers exactly one copy on the target server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from core.errors import ArtifactMismatch, ConflictError, InputError
from governance import ledger
from governance.catalog import Catalog
from governance.config import Settings, Workspace, load_settings
from governance.context import Context
from governance.execution import execute
from governance.identity import Identity, identity_for, os_user
from governance.promotion import approve, create_request, get_request
from governance.signoff import deployment_note, promotion_effect
from governance.sync import sync
from tests.connectors.mlflow_driver import MlflowDriver, unique
from tests.connectors.zenml_driver import ZenMLDriver

pytestmark = pytest.mark.timeout(900)  # the first test may build a server's virtualenv and start it
ADMIN = Identity("admin@example.com", frozenset({"admin"}), source="cli")
OFFICERS = ("risk.officer@example.com", "second.officer@example.com")


def open_workspace(root: Path, accounts: dict[str, dict[str, Any]],
                   environ: dict[str, str] | None = None) -> tuple[Workspace, Settings, Catalog]:
    """A workspace with ``accounts`` (name -> keys), dev → staging → prod, and a tier needing two approvers."""
    lines = ['[environments]\norder = ["dev", "staging", "prod"]\n']
    for name, keys in accounts.items():
        lines.append(f'[[accounts]]\nname = "{name}"\nfull_sync_every_hours = 0')
        for k, v in keys.items():
            if isinstance(v, dict):  # an inline table keeps the order written (the first mapped alias wins)
                v = "{ " + ", ".join(f"{a} = {json.dumps(b)}" for a, b in v.items()) + " }"
            else:
                v = json.dumps(v)
            lines.append(f"{k} = {v}")
        lines.append("")
    lines.append('[roles]\n"ml.engineer@example.com" = ["ml_engineer"]\n'
                 + "".join(f'"{o}" = ["risk_officer"]\n' for o in OFFICERS) + f'"os:{os_user()}" = ["auditor"]\n')
    lines.append("[policy.tiers.medium]\napprovals_required = 2\n")
    ws = Workspace(root)
    ws.ensure_dirs()
    ws.config_path.write_text("\n".join(lines), encoding="utf-8")
    settings = load_settings(ws, environ=environ or {})
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    return ws, settings, catalog


def sync_all(ws: Workspace, settings: Settings, catalog: Catalog) -> None:
    for result in sync(Context(ws, settings, catalog, ADMIN), full=True).results:
        assert result.status != "failed", result.error


def sign_off(ws: Workspace, settings: Settings, catalog: Catalog, version_id: str, to_env: str) -> str:
    """Request ``version_id`` → ``to_env`` as the ML engineer; two risk officers approve. The request id."""
    engineer = identity_for(settings, "ml.engineer@example.com", source="cli")
    request = create_request(Context(ws, settings, catalog, engineer), version_id, to_env, "validated on the holdout")
    first, second = (identity_for(settings, o, source="cli") for o in OFFICERS)
    assert approve(Context(ws, settings, catalog, first), request.request_id, "reviewed").status == "pending"
    assert approve(Context(ws, settings, catalog, second), request.request_id, "reviewed too").status == "approved"
    return request.request_id


def inventory_row(catalog: Catalog, version_id: str) -> dict[str, Any]:
    df = catalog.inventory()
    return df[df["version_id"] == version_id].iloc[0].to_dict()


def champion_on_second_version(seed: MlflowDriver, prefix: str) -> str:
    """A new model with two versions, the champion alias on version 2; its name."""
    model = unique(prefix)
    seed.create_model(model)
    seed.add_version(model)
    seed.add_version(model)
    seed.set_alias(model, "champion", 2)
    return model


def zenml_workspace(seed: ZenMLDriver, root: Path) -> tuple[Workspace, Settings, Catalog]:
    """A workspace with the ZenML server as account ``zen`` (dev) whose staging and production stages mean the
    staging and prod environments."""
    keys = dict(seed.settings())  # artifact_root: the local store its pipelines write the model into
    return open_workspace(root, {"zen": {
        "environment": "dev", **keys, "stage_environments": {"staging": "staging", "production": "prod"}}},
        environ=seed.environ())


@pytest.fixture(scope="module")
def mlflow(mlflow_servers) -> tuple[MlflowDriver, MlflowDriver]:
    a, b = (MlflowDriver(s) for s in mlflow_servers)
    yield a, b
    a.close()
    b.close()


def test_mlflow_alias_promotion_within_one_server(mlflow, tmp_path: Path) -> None:
    seed, _ = mlflow
    model = unique("credit")
    seed.create_model(model)
    seed.add_version(model)
    seed.set_alias(model, "challenger", 1)
    # champion listed first: a version holding both aliases is in prod (with several mapped aliases the first wins)
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlreg": {
        "environment": "dev", "connector": "mlflow", "tracking_uri": seed.server.url,
        "alias_environments": {"champion": "prod", "challenger": "staging"}}})
    sync_all(ws, settings, catalog)
    vid = f"mlreg:{model}:1"
    before = catalog.version(vid)
    assert (before.environment, before.labels) == ("staging", ("challenger",))
    assert inventory_row(catalog, vid)["labels"] == ["challenger"]

    rid = sign_off(ws, settings, catalog, vid, "prod")
    # what the approver is told it does: the label moves, nothing is registered
    effect = promotion_effect(get_request(catalog, rid), "mlreg")
    assert effect.startswith(f"move the registry label that means prod in account mlreg (an alias or a stage) onto "
                             f"{vid} and mark it Approved there"), effect
    done = execute(Context(ws, settings, catalog, identity_for(settings, OFFICERS[0], source="cli")), rid)
    assert done.status == "executed", done.execution_error
    assert done.target_account == "mlreg" and done.target_version_id == vid  # the version itself moved
    assert deployment_note(done).startswith(f"Promoted in place: {vid} now holds the registry label that means prod")

    assert seed.get("registered-models/alias", name=model, alias="champion")["model_version"]["version"] == "1"
    tags = {t["key"]: t["value"] for t in seed.version(model, 1).get("tags") or []}
    assert tags["countersign.request_id"] == rid
    after = catalog.version(vid)
    assert after.environment == "prod" and "champion" in after.labels, after
    assert after.source_version_id is None  # a label moved on the version is no copy of itself
    row = inventory_row(catalog, vid)
    assert row["environment"] == "prod" and "champion" in row["labels"] and row["approved_in_countersign"]
    assert len(seed.versions(model)) == 1
    assert ledger.verify_unchecked(ws, catalog).ok
    # the CLI lists the version where the label put it, with its labels
    cli = subprocess.run([sys.executable, "-m", "countersign_cli", "models", "--workspace", str(ws.root), "--json"],
                         capture_output=True, text=True, timeout=180)
    assert cli.returncode == 0, cli.stderr
    listed = next(v for v in json.loads(cli.stdout)["versions"] if v["version_id"] == vid)
    assert listed["environment"] == "prod" and "champion" in listed["labels"], listed


def test_aliases_given_environments_later_place_the_versions_on_the_next_sync(mlflow, tmp_path: Path) -> None:
    # the account first syncs without alias_environments (its versions are in dev, the champion alias a label);
    # once the settings map champion to prod, the next plain sync (not --full) places the version in prod
    seed, _ = mlflow
    model = champion_on_second_version(seed, "placed")
    account = {"environment": "dev", "connector": "mlflow", "tracking_uri": seed.server.url}
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlreg": account})
    sync_all(ws, settings, catalog)
    assert (catalog.version(f"mlreg:{model}:2").environment, catalog.version(f"mlreg:{model}:2").labels) == \
        ("dev", ("champion",))

    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlreg": {
        **account, "alias_environments": {"champion": "prod", "challenger": "staging"}}})
    # (the server is shared with other tests, whose versions may add sync issues: "partial", never "failed")
    result = sync(Context(ws, settings, catalog, ADMIN)).results[0]
    assert result.status != "failed" and result.full, result
    assert catalog.version(f"mlreg:{model}:2").environment == "prod"
    assert catalog.version(f"mlreg:{model}:1").environment == "dev"
    assert catalog.version_history(f"mlreg:{model}:2")["environment"].tolist() == ["dev", "prod"]
    again = sync(Context(ws, settings, catalog, ADMIN)).results[0]
    assert again.status != "failed" and not again.full, again
    assert catalog.version_history(f"mlreg:{model}:2")["environment"].tolist() == ["dev", "prod"]


def test_a_version_without_data_is_told_the_mlflow_way_to_name_it_and_following_it_works(mlflow, tmp_path: Path) -> None:
    # the review of a version without validation data says how an MLflow registry names it; doing what it says
    # and running a full sync gives the review its file
    from core.errors import NotFound
    from governance.sources import version_file

    seed, _ = mlflow
    model = unique("nodata")
    seed.create_model(model)
    seed.add_version(model)
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlreg": {
        "environment": "dev", "connector": "mlflow", "tracking_uri": seed.server.url}})
    sync_all(ws, settings, catalog)
    vid = f"mlreg:{model}:1"
    with pytest.raises(NotFound) as missing:
        version_file(ws, settings, catalog.version(vid), "validation")
    said = str(missing.value)
    assert f"version {vid} has no 'validation' file (it has: none)" in said
    assert ("log a file the server stores (an mlflow-artifacts:/ or runs:/ URI) as an input of the version's run "
            "with context 'validation' (or 'eval', 'evaluation', 'test') — mlflow.log_input(mlflow.data.from_pandas("
            "df, source=HTTPDatasetSource(uri)), context='validation'), see docs/mlflow.md — or tag the version "
            "countersign.data.validation = that URI") in said
    assert said.endswith("then run a full sync of mlreg (Full pass on the Accounts page, or countersign sync --full "
                         "--account mlreg)")

    data = b"PAR1 validation rows"  # fetched as bytes: the review reads it, the fetch does not parse it
    seed.upload(f"data/{model}/validation.parquet", data)
    seed.change_version(model, 1, tags={"countersign.data.validation": f"mlflow-artifacts:/data/{model}/validation.parquet"})
    sync_all(ws, settings, catalog)
    assert version_file(ws, settings, catalog.version(vid), "validation").read_bytes() == data


def test_a_version_holding_the_prod_alias_is_under_oversight_and_can_be_reviewed(mlflow, tmp_path: Path) -> None:
    # MLflow knows no endpoints: the version the champion alias (prod) names is the one in use, so its periodic
    # review is scheduled and a risk officer can record it; the version without a label is not in use
    from governance.oversight import record_review, schedule

    seed, _ = mlflow
    model = champion_on_second_version(seed, "overseen")
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlreg": {
        "environment": "dev", "connector": "mlflow", "tracking_uri": seed.server.url,
        "alias_environments": {"champion": "prod"}}})
    sync_all(ws, settings, catalog)
    officer = identity_for(settings, OFFICERS[0], source="cli")
    due = {i.version_id: i for i in schedule(Context(catalog.workspace, settings, catalog, officer)).items if i.model == model}
    assert set(due) == {f"mlreg:{model}:2"}
    item = due[f"mlreg:{model}:2"]
    assert item.environment == "prod" and item.deployed_on == "label champion" and item.never_reviewed

    done = record_review(Context(ws, settings, catalog, officer), f"mlreg:{model}:2", "continue",
                         "metrics stable since the last quarter", refresh=False)
    assert done.outcome == "continue"
    assert not next(i for i in schedule(Context(catalog.workspace, settings, catalog, officer)).items if i.model == model).never_reviewed
    with pytest.raises(InputError, match="holds no registry label in prod"):
        record_review(Context(ws, settings, catalog, officer), f"mlreg:{model}:1", "continue", "not in use at all here",
                      refresh=False)


def test_only_the_label_that_means_the_environment_puts_a_version_under_oversight(mlflow, tmp_path: Path) -> None:
    # a prod server's account: version 1 holds an alias that means nothing ("archived"), version 2 the champion
    # alias that means prod; only version 2 is in use
    from governance.oversight import schedule

    seed, _ = mlflow
    model = champion_on_second_version(seed, "archived")
    seed.set_alias(model, "archived", 1)
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlprod": {
        "environment": "prod", "connector": "mlflow", "tracking_uri": seed.server.url,
        "alias_environments": {"champion": "prod"}}})
    sync_all(ws, settings, catalog)
    assert catalog.version(f"mlprod:{model}:1").labels == ("archived",)
    officer = identity_for(settings, OFFICERS[0], source="cli")
    due = [i for i in schedule(Context(catalog.workspace, settings, catalog, officer)).items if i.model == model]
    assert [(i.version_id, i.deployed_on) for i in due] == [(f"mlprod:{model}:2", "label champion")]


def test_mlflow_promotion_across_servers_registers_one_copy(mlflow, tmp_path: Path) -> None:
    staging, prod = mlflow
    model = unique("churn")
    staging.create_model(model)
    staging.add_version(model)
    ws, settings, catalog = open_workspace(tmp_path / "ws", {
        "ml-staging": {"environment": "staging", "connector": "mlflow", "tracking_uri": staging.server.url},
        "ml-prod": {"environment": "prod", "connector": "mlflow", "tracking_uri": prod.server.url},
    })
    sync_all(ws, settings, catalog)
    vid = f"ml-staging:{model}:1"
    rid = sign_off(ws, settings, catalog, vid, "prod")
    officer = identity_for(settings, OFFICERS[1], source="cli")
    done = execute(Context(ws, settings, catalog, officer), rid)
    assert done.status == "executed", done.execution_error
    assert [v["version"] for v in prod.versions(model)] == ["1"]
    assert done.target_version_id == f"ml-prod:{model}:1"
    copy = catalog.version(done.target_version_id)
    assert copy.environment == "prod" and copy.source_version_id == vid
    with pytest.raises(ConflictError):
        execute(Context(ws, settings, catalog, officer), rid)
    assert len(prod.versions(model)) == 1
    assert ledger.verify_unchecked(ws, catalog).ok


def test_an_mlflow_promotion_across_servers_leaves_prod_complete(mlflow, tmp_path: Path) -> None:
    # a version trained with the real client (params, metrics, datasets, description), its registered model with
    # its description, owner, tier and intended use; after execution prod serves models:/name@champion with all of
    # it, and its data is prod's own copy (what prod can read), not a pointer into the staging server
    from governance.sources import version_file

    staging, prod = mlflow
    model = unique("complete")
    trained = staging.train(model, source="artifact", description="GBM on the 2026-10 book")
    staging.request("PATCH", "registered-models/update", {"name": model, "description": "Probability of default, retail"})
    model_tags = {"countersign.owner": "risk-ml@bank.example", "countersign.risk_tier": "medium",
                  "countersign.intended_use": "retail loan approval"}
    for key, value in model_tags.items():
        staging.post("registered-models/set-tag", {"name": model, "key": key, "value": value})
    staging.change_version(model, 1, tags={"team": "risk",
                                           "countersign.data.current": f"runs:/{trained['run_id']}/data/train.parquet"})
    ws, settings, catalog = open_workspace(tmp_path / "ws", {
        "ml-staging": {"environment": "staging", "connector": "mlflow", "tracking_uri": staging.server.url},
        "ml-prod": {"environment": "prod", "connector": "mlflow", "tracking_uri": prod.server.url,
                    "alias_environments": {"champion": "prod"}},
    })
    sync_all(ws, settings, catalog)
    vid = f"ml-staging:{model}:1"
    rid = sign_off(ws, settings, catalog, vid, "prod")
    done = execute(Context(ws, settings, catalog, identity_for(settings, OFFICERS[1], source="cli")), rid)
    assert done.status == "executed", done.execution_error

    copy = prod.get("registered-models/alias", name=model, alias="champion")["model_version"]
    assert copy["description"] == "GBM on the 2026-10 book"
    registered = prod.get("registered-models/get", name=model)["registered_model"]
    assert registered["description"] == "Probability of default, retail"
    assert model_tags.items() <= {t["key"]: t["value"] for t in registered.get("tags") or []}.items()
    run = prod.get("runs/get", run_id=copy["run_id"])["run"]["data"]
    assert {p["key"]: p["value"] for p in run["params"]} == {"n_estimators": "20", "max_depth": "2",
                                                             "learning_rate": "0.1"}
    assert {m["key"] for m in run["metrics"]} >= {"accuracy"}
    tags = {t["key"]: t["value"] for t in copy.get("tags") or []}
    assert tags["team"] == "risk" and trained["run_id"] not in "".join(tags.values())  # nothing points at staging

    sync_all(ws, settings, catalog)
    promoted = catalog.version(done.target_version_id)
    assert promoted.labels == ("champion",) and promoted.environment == "prod"
    assert sorted(promoted.data_uris) == ["reference", "validation"]  # prod's own monitoring data is its own
    for key in ("reference", "validation"):  # Review reads prod's copy, checked against MLflow's digest
        assert version_file(ws, settings, promoted, key).exists()
    model_row = catalog.query_df("SELECT owner, risk_tier, intended_use FROM models WHERE name = ?", [model])
    assert model_row.to_dict("records")[0] == {"owner": "risk-ml@bank.example", "risk_tier": "medium",
                                               "intended_use": "retail loan approval"}


def test_zenml_stage_promotion_within_one_server(zenml_server, tmp_path: Path) -> None:
    env_var = f"ZENML_KEY_{uuid.uuid4().hex[:6].upper()}"
    seed = ZenMLDriver(zenml_server, tmp_path / "zenml-work", env_var=env_var)
    seed.work.mkdir(parents=True)
    model = seed.create_model()
    # a version a pipeline trained (it links the model artifact a sign-off binds to); a version without one cannot
    # be requested: there are no bytes to approve
    v1 = {"id": seed.run_pipeline(model["name"], "trained")["model_version_id"]}
    seed.set_stage(v1["id"], "staging")
    ws, settings, catalog = zenml_workspace(seed, tmp_path / "ws")
    sync_all(ws, settings, catalog)
    vid = f"zen:{model['name']}:1"
    assert (catalog.version(vid).environment, catalog.version(vid).labels) == ("staging", ("staging",))
    assert catalog.version(vid).artifact_sha256

    rid = sign_off(ws, settings, catalog, vid, "prod")
    done = execute(Context(ws, settings, catalog, identity_for(settings, OFFICERS[0], source="cli")), rid)
    assert done.status == "executed", done.execution_error
    assert done.target_version_id == vid
    assert seed.version(v1["id"])["body"]["stage"] == "production"
    after = catalog.version(vid)
    assert (after.environment, after.labels) == ("prod", ("production",))
    assert inventory_row(catalog, vid)["labels"] == ["production"]
    assert ledger.verify_unchecked(ws, catalog).ok


def test_mlflow_model_swapped_in_the_artifact_store_after_approval_is_not_promoted(mlflow, tmp_path: Path) -> None:
    """Issue 31, finding 1 on a real MLflow server: the approved model file is overwritten through the artifact proxy
    after both approvals; execution streams the bytes again, refuses, and the champion alias does not move."""
    seed, _ = mlflow
    model = unique("credit")
    seed.create_model(model)
    seeded = seed.add_version(model)
    seed.set_alias(model, "challenger", 1)
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlreg": {
        "environment": "dev", "connector": "mlflow", "tracking_uri": seed.server.url,
        "alias_environments": {"champion": "prod", "challenger": "staging"}}})
    sync_all(ws, settings, catalog)
    vid = f"mlreg:{model}:1"
    rid = sign_off(ws, settings, catalog, vid, "prod")
    bound = ledger.entries_for(catalog, f"request:{rid}")[0].payload["artifact_sha256"]
    assert bound == catalog.version(vid).artifact_sha256
    seed.upload(f"{seeded.source.removeprefix('mlflow-artifacts:/')}/model.skops", b"a model nobody approved")

    with pytest.raises(ArtifactMismatch) as refused:
        execute(Context(ws, settings, catalog, identity_for(settings, OFFICERS[0], source="cli")), rid)
    assert refused.value.expected == bound and refused.value.found not in (None, bound)
    aliases = {a["alias"] for a in seed.get("registered-models/get", name=model)["registered_model"].get("aliases", [])}
    assert "champion" not in aliases  # serving (models:/name@champion) still resolves to nothing new
    assert [e.action for e in ledger.entries_for(catalog, f"request:{rid}")][-1] == "execution.refused"
    assert get_request(catalog, rid).status == "approved"
