"""MLflow as its users run it: a training script with the real MLflow client (``mlflow.log_input``,
``mlflow.sklearn.log_model``, ``mlflow.register_model``) against a real ``mlflow server``, then Countersign's sync,
fetch and review on what the script logged.

The script (``tests/connectors/mlflow_training.py``) runs in the MLflow virtualenv's python, never in the portal's.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import build_connector
from connectors.base import AccountInfo
from connectors.mlflow import MlflowConnector, MlflowSettings
from connectors.mlflow.datasets import pandas_digest, split_digest
from core.errors import ConfigError, CountersignError, InputError, UnsafeArtifact
from governance.context import Context
from tests.connectors.mlflow_driver import MlflowDriver, unique

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def server(mlflow_servers) -> Iterator[MlflowDriver]:
    driver = MlflowDriver(mlflow_servers[0])
    yield driver
    driver.close()


def connector(driver: MlflowDriver, tmp_path: Path, account: AccountInfo = AccountInfo("ml", "dev"), **keys):
    return build_connector("mlflow", MlflowSettings(tracking_uri=driver.server.url, **keys), account, root=tmp_path,
                           cache_dir=tmp_path / "cache")


def the_version(conn: MlflowConnector, model: str):
    (version,) = [v for v in conn.extract(None).versions if v.model == model]
    return version


def synced(tmp_path: Path, account: dict, models: str = ""):
    """A workspace with MLflow account ``ml`` (keys ``account``) and per-model settings ``models``, synced in full:
    (workspace, settings, catalog)."""
    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.identity import Identity
    from governance.sync import sync
    from tests.connectors.mlflow_driver import workspace_toml

    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text(workspace_toml({"ml": {"environment": "dev", **account}}) + models)
    settings = load_settings(ws, environ={})
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    admin = Identity("admin@example.com", frozenset({"admin"}), source="cli")
    assert all(r.status == "ok" for r in sync(Context(ws, settings, catalog, admin), full=True).results)
    return ws, settings, catalog


@contextlib.contextmanager
def file_server(folder: Path) -> Iterator[str]:
    """A plain HTTP server of ``folder`` on 127.0.0.1 (a data host that is not the MLflow server)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- MLflow 3 logged models ---------------------------------------------------------------------------------------


def test_a_version_registered_from_a_logged_model_reads_the_logged_model(server: MlflowDriver, tmp_path: Path) -> None:
    # MLflow 3: log_model makes a LoggedModel (m-...), register_model(models:/m-...) a version whose source names it;
    # the version answer has no model_id field, only that source
    model = unique("logged")
    out = server.train(model, source="artifact")
    version = the_version(connector(server, tmp_path), model)
    assert version.artifact_uri == f"models:/{out['model_id']}"
    assert version.raw["logged_model"]["model_id"] == out["model_id"]
    assert version.raw["logged_model"]["params"] == {"n_estimators": "20", "max_depth": "2", "learning_rate": "0.1"}
    assert version.run_ref == f"run/{out['run_id']}" and "accuracy" in version.metrics
    assert version.framework and version.framework.startswith("sklearn")
    assert version.artifact_sha256 and version.artifact_digest_source == "countersign"


# -- dataset inputs of every source the client writes ------------------------------------------------------------


@pytest.mark.parametrize("source", ["artifact", "runs", "proxy-url", "http", "s3", "local"])
def test_dataset_inputs_of_every_source_are_the_versions_data(server: MlflowDriver, tmp_path: Path, source: str,
                                                              request: pytest.FixtureRequest) -> None:
    model = unique(f"ds-{source}")
    serve = tmp_path / "served"
    serve.mkdir()
    keys: dict = {}
    options: dict = {"source": source, "serve_dir": str(serve)}
    with contextlib.ExitStack() as stack:
        if source == "http":
            options["base_url"] = stack.enter_context(file_server(serve))
            keys["data_hosts"] = ("127.0.0.1",)
        elif source == "s3":
            request.getfixturevalue("aws_env")
            import boto3

            boto3.client("s3").create_bucket(Bucket="team-data",
                                              CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            options.update(bucket="team-data")
            keys["data_buckets"] = ("team-data",)
        elif source == "local":
            root = server.server.root / "artifacts"
            options["local_dir"] = str(root / "datasets" / model)
            keys["server_artifact_root"] = str(root)
        out = server.train(model, **options)
        if source == "s3":
            for name in ("train.parquet", "validation.parquet"):
                boto3.client("s3").upload_file(str(serve / name), "team-data", f"data/{name}")
        conn = connector(server, tmp_path, **keys)
        version = the_version(conn, model)
        assert sorted(version.data_uris) == ["reference", "validation"], version.data_uris
        for key, name in (("reference", "train"), ("validation", "validation")):
            _, digest = split_digest(version.data_uris[key])
            assert digest == out["datasets"][name]["digest"]  # MLflow's own digest travels with the URI
            local = conn.fetch(version.data_uris[key])
            assert pandas_digest(local) == digest  # and the file read is that DataFrame


def test_a_dataset_logged_without_a_source_names_no_data_but_checks_a_tagged_file(server: MlflowDriver,
                                                                                  tmp_path: Path) -> None:
    # mlflow.data.from_pandas(df) + log_input: a "code" source, MLflow kept the digest and the schema, not the rows
    model = unique("ds-code")
    out = server.train(model, source="code")
    conn = connector(server, tmp_path)
    version = the_version(conn, model)
    assert version.data_uris == {}
    assert out["datasets"]["train"]["source_type"] == "code"
    # the user uploads the training file and tags the version with it: the tag is checked against the digest
    same, other = unique("ds-same"), unique("ds-other")
    server.train(same, source="artifact")  # the same rows (same seed), logged as a file this time
    server.train(other, source="artifact", seed=99)  # another data set
    same_uri = split_digest(the_version(conn, same).data_uris["reference"])[0]
    other_uri = split_digest(the_version(conn, other).data_uris["reference"])[0]
    server.change_version(model, 1, tags={"countersign.data.reference": same_uri})
    tagged = the_version(conn, model)
    assert split_digest(tagged.data_uris["reference"]) == (same_uri, out["datasets"]["train"]["digest"])
    assert pandas_digest(conn.fetch(tagged.data_uris["reference"])) == out["datasets"]["train"]["digest"]
    server.change_version(model, 1, tags={"countersign.data.reference": other_uri})
    with pytest.raises(InputError, match="not the dataset the run logged"):
        conn.fetch(the_version(conn, model).data_uris["reference"])


@pytest.mark.parametrize("contexts, keys", [(["train", "eval"], ["reference", "validation"]),
                                            (["training", "production"], ["current", "reference"])])
def test_contexts_name_the_data_and_a_tag_overrides_them(server: MlflowDriver, tmp_path: Path, contexts: list,
                                                         keys: list) -> None:
    model = unique("ctx")
    server.train(model, source="artifact", contexts=contexts)
    conn = connector(server, tmp_path)
    version = the_version(conn, model)
    assert sorted(version.data_uris) == keys
    server.change_version(model, 1, tags={"countersign.data.reference": "mlflow-artifacts:/elsewhere/ref.parquet"})
    assert the_version(conn, model).data_uris["reference"].startswith("mlflow-artifacts:/elsewhere/ref.parquet")


# -- models saved the documented way, and the default way ---------------------------------------------------------


def test_a_tree_model_saved_with_skops_as_the_docs_say_loads(server: MlflowDriver, tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    model = unique("skops")
    server.train(model, source="artifact", serialization="skops")
    conn = connector(server, tmp_path)
    loaded = load_model(conn.fetch(the_version(conn, model).artifact_uri))
    assert loaded.format == "skops" and type(loaded.model).__name__ == "GradientBoostingClassifier"


def test_a_pickled_model_is_never_loaded_and_the_refusal_says_what_to_do(server: MlflowDriver, tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    model = unique("pickle")
    server.train(model, source="artifact", serialization="cloudpickle")
    conn = connector(server, tmp_path)
    with pytest.raises(UnsafeArtifact) as err:
        load_model(conn.fetch(the_version(conn, model).artifact_uri))
    text = str(err.value)
    # one line: what would load (skops with the trusted types MLflow needs for trees, native boosters), or what to
    # log instead (SHAP values)
    assert "skops_trusted_types" in text and "SHAP values" in text and "\n" not in text


# -- SHAP values the pipeline logged: the explanation of a model that stays a pickle ---------------------------------


def test_a_pickled_model_is_explained_from_the_shap_values_the_script_logged(server: MlflowDriver,
                                                                              tmp_path: Path) -> None:
    from governance.evidence import review_version
    from governance.identity import identity_for

    model = unique("explained")
    out = server.train(model, source="artifact", serialization="cloudpickle", shap=True)
    ws, settings, catalog = synced(tmp_path, {"tracking_uri": server.server.url},
                                   f'\n[models.{model}]\nprotected_attributes = ["gender"]\nlabel = "label"\n')
    version = catalog.version(f"ml:{model}:1")
    assert version.report_uris == {"shap_values": f"runs:/{out['run_id']}/shap_values.parquet"}

    actor = identity_for(settings, "risk.officer@example.com", source="cli")
    explain = review_version(ws, settings, catalog, version.version_id, actor=actor,
                             kinds=("explain",)).item("explain")
    assert explain.status == "computed", explain.message
    assert explain.evidence.inputs["shap_values"]["provenance"] == "reported by the pipeline"
    # exact Shapley values with the model's output beside them: additivity is checked, not assumed
    assert explain.evidence.result["additivity_max_error"] < 1e-6


# -- MLflow workspaces (3.10+): one account per workspace ----------------------------------------------------------


@pytest.fixture(scope="module")
def workspace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowDriver]:
    """An ``mlflow server --enable-workspaces`` with workspaces ``risk`` and ``retail`` (MLflow's own REST API)."""
    from tests.servers.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-ws"), workspaces=True).start().wait()
    driver = MlflowDriver(server)
    for name in ("risk", "retail"):
        driver.client.post("/api/3.0/mlflow/workspaces", json={"name": name}).raise_for_status()
    yield driver
    driver.close()
    server.stop()


def test_each_workspace_is_an_account_that_sees_only_its_own_models(workspace_server: MlflowDriver,
                                                                    tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    # two teams on one server register a model of the same name, each with the real client in its workspace
    risk = workspace_server.train("credit", workspace="risk", serialization="skops")
    retail = workspace_server.train("credit", workspace="retail", serialization="skops")
    seen = {}
    for ws, out in (("risk", risk), ("retail", retail)):
        conn = connector(workspace_server, tmp_path / ws, workspace=ws)
        snap = conn.extract(None)
        assert [(v.model, v.version) for v in snap.versions] == [("credit", 1)]
        (version,) = snap.versions
        assert version.run_ref == f"run/{out['run_id']}"  # this workspace's run, not the other team's
        load_model(conn.fetch(version.artifact_uri))  # the artifacts proxy serves the workspace's files
        seen[ws] = version.artifact_sha256
    assert seen["risk"] and seen["retail"]
    # the server's default workspace holds neither
    assert [v for v in connector(workspace_server, tmp_path / "default").extract(None).versions
            if v.model == "credit"] == []


# -- several workspaces of one server in one account -------------------------------------------------------------


def test_one_account_reads_several_workspaces_keyed_by_workspace(workspace_server: MlflowDriver,
                                                                 tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    # the same model name in two workspaces: one account lists both, as risk/NAME and retail/NAME
    model = unique("scored")
    outs = {ws: workspace_server.train(model, workspace=ws, serialization="skops") for ws in ("risk", "retail")}
    conn = connector(workspace_server, tmp_path, workspaces=("risk", "retail"))
    snap = conn.extract(None)
    mine = {v.model: v for v in snap.versions if v.model.endswith("/" + model)}
    assert sorted(mine) == [f"retail/{model}", f"risk/{model}"]
    assert {m.name for m in snap.models} >= {f"retail/{model}", f"risk/{model}"}
    for ws, out in outs.items():
        version = mine[f"{ws}/{model}"]
        assert version.source_ref == f"models:/{ws}/{model}/1"
        assert version.run_ref == f"run/{out['run_id']}"  # each workspace's own run
        load_model(conn.fetch(version.artifact_uri))  # read through that workspace's artifact proxy
        assert version.artifact_sha256 and conn.artifact_digest(version).sha256 == version.artifact_sha256
    # isolation: a URI of the risk workspace's files named as the retail workspace's is refused by the server
    risk_uri = mine[f"risk/{model}"].artifact_uri
    assert risk_uri.startswith("mlflow-workspace:risk/")
    with pytest.raises(CountersignError):
        conn.fetch("mlflow-workspace:retail/" + risk_uri.split("/", 1)[1])
    with pytest.raises(InputError, match="workspace"):
        conn.fetch(risk_uri.split("/", 1)[1])  # a bare URI names no workspace: refused, not guessed
    # incremental: nothing new, then a new version in retail only
    assert [v for v in conn.extract(snap.watermark).versions if v.model.endswith(model)] == []
    workspace_server.train(model, workspace="retail", serialization="skops")
    again = conn.extract(snap.watermark)
    assert [(v.model, v.version) for v in again.versions if v.model.endswith(model)] == [(f"retail/{model}", 2)]
    # "*": every workspace the server lists, the default one too
    every = connector(workspace_server, tmp_path / "all", workspaces="*").extract(None)
    assert {f"risk/{model}", f"retail/{model}"} <= {v.model for v in every.versions}


def test_promotions_and_approvals_go_to_the_versions_own_workspace(workspace_server: MlflowDriver,
                                                                    tmp_path: Path) -> None:
    from connectors.base import PromotionRef

    model = unique("promoted")
    for ws in ("risk", "retail"):
        workspace_server.train(model, workspace=ws, serialization="skops")
    dev = connector(workspace_server, tmp_path / "dev", workspaces=("risk", "retail"))
    prod = connector(workspace_server, tmp_path / "p", AccountInfo("ml-prod", "prod"), workspaces=("risk", "retail"),
                     alias_environments={"champion": "prod"})
    versions = {v.model: v for v in dev.extract(None).versions if v.model.endswith(model)}
    source = versions[f"retail/{model}"]
    approved = dev.set_approval(source, "Approved", "signed off")
    assert approved.model == f"retail/{model}" and approved.approval_status == "Approved"
    ref = PromotionRef("req-ws-1", "ab" * 32, "ml", source.source_ref, ("a@x", "b@x"), environment="prod",
                       artifact_sha256=source.artifact_sha256)
    moved = prod.register_copy(source, dev, ref)
    assert moved.source_ref == f"models:/retail/{model}/1" and moved.labels == ("champion",)
    assert moved.environment == "prod"
    after = {v.model: v for v in prod.extract(None).versions if v.model.endswith(model)}
    # the risk workspace's model of the same name is untouched: no alias, no approval
    assert after[f"risk/{model}"].labels == () and after[f"risk/{model}"].approval_status == "PendingManualApproval"
    assert after[f"retail/{model}"].approval_status == "Approved"
    # a promotion whose model names a workspace the target does not read is refused before anything is written
    only_risk = connector(workspace_server, tmp_path / "r", AccountInfo("ml-risk", "prod"), workspaces=("risk",),
                          alias_environments={"champion": "prod"})
    with pytest.raises(ConfigError, match="retail"):
        only_risk.register_copy(source, dev, ref)


def test_a_several_workspace_account_syncs_into_the_catalog_and_reads_each_versions_data(
        workspace_server: MlflowDriver, tmp_path: Path) -> None:
    from governance.sources import version_file

    model = unique("synced")
    outs = {ws: workspace_server.train(model, workspace=ws, source="artifact", seed=seed)
            for ws, seed in (("risk", 1), ("retail", 2))}
    ws, settings, catalog = synced(tmp_path, {"tracking_uri": workspace_server.server.url, "workspaces": "*"},
                                   f'\n[models."risk/{model}"]\nlabel = "label"\n')
    for team, out in outs.items():
        version = catalog.version(f"ml:{team}/{model}:1")
        assert version.run_id == f"ml:run/{out['run_id']}"
        assert version.data_uris["reference"].startswith(f"mlflow-workspace:{team}/")
        assert pandas_digest(version_file(ws, settings, version, "reference")) == out["datasets"]["train"]["digest"]
    assert settings.account("ml").location.endswith("(every workspace)")


def test_a_version_of_a_several_workspace_account_is_promoted_to_another_server_under_its_own_name(
        workspace_server: MlflowDriver, server: MlflowDriver, tmp_path: Path) -> None:
    from connectors.base import PromotionRef

    model = unique("crossing")
    workspace_server.train(model, workspace="risk", serialization="skops")
    dev = connector(workspace_server, tmp_path / "dev", workspaces=("risk", "retail"))
    (source,) = [v for v in dev.extract(None).versions if v.model == f"risk/{model}"]
    prod = connector(server, tmp_path / "prod", AccountInfo("ml-prod", "prod"), alias_environments={"champion": "prod"})
    ref = PromotionRef("req-ws-cross", "cd" * 32, "ml", source.source_ref, ("a@x", "b@x"), environment="prod",
                       artifact_sha256=source.artifact_sha256)
    copy = prod.register_copy(source, dev, ref)
    # MLflow names carry no workspace: the copy is the bare name on a server without workspaces
    assert copy.model == model and copy.labels == ("champion",) and copy.artifact_sha256 == source.artifact_sha256
    assert copy.source_version_ref == f"models:/risk/{model}/1"
    # the card of the model in one workspace is read and written there only
    card = dev.read_card(f"risk/{model}")
    assert card.target.endswith("(workspace risk)")
    written = dev.write_card(f"risk/{model}", {"limitations": "EU applicants only"}, card.revision)
    assert written.fields["limitations"] == "EU applicants only"
    with pytest.raises(CountersignError):
        dev.read_card(f"retail/{model}")  # no such model in retail


def test_workspaces_on_a_server_without_them_or_unknown_ones_are_refused(workspace_server: MlflowDriver,
                                                                        server: MlflowDriver, tmp_path: Path) -> None:
    # a server without --enable-workspaces ignores the header: every "workspace" would list the same models twice
    with pytest.raises(ConfigError, match="--enable-workspaces"):
        connector(server, tmp_path / "plain", workspaces=("risk", "retail")).extract(None)
    with pytest.raises(ConfigError, match="'nosuch'"):
        connector(workspace_server, tmp_path / "ws", workspaces=("risk", "nosuch")).extract(None)
