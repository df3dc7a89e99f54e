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
from core.errors import InputError, UnsafeArtifact
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


def synced(tmp_path: Path, account: dict, model: str, models: str = ""):
    """A workspace with MLflow account ``ml`` (keys ``account``) and per-model settings ``models``, synced in full:
    (workspace, settings, catalog). The server is shared by the session's tests, some of which leave versions a sync
    reports as issues on purpose: only an issue of ``model`` (or a failed sync) fails here."""
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
    results = sync(Context(ws, settings, catalog, admin), full=True).results
    problems = [(r.status, r.error, [i for i in r.issues if model in i]) for r in results]
    assert all(status != "failed" and not mine for status, _, mine in problems), problems
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
    ws, settings, catalog = synced(tmp_path, {"tracking_uri": server.server.url}, model,
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
