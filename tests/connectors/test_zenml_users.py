"""ZenML as its users run it: a ``@pipeline`` with ``Model(...)``, ZenML's default materializers, an Evidently step
and SHAP values (``tests/connectors/zenml_user_pipeline.py``, run by the pipelines virtualenv) against a real
ZenML 0.98 server, then Countersign's sync and fetch of what it logged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.base import AccountInfo
from connectors.zenml import ZenMLConnector, ZenMLSettings
from core.errors import ArtifactMismatch, UnsafeArtifact
from governance.context import Context
from tests.connectors.zenml_driver import ZenMLDriver

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def driver(zenml_server, tmp_path: Path) -> ZenMLDriver:
    d = ZenMLDriver(zenml_server, tmp_path / "zenml-work", env_var=f"ZENML_KEY_{uuid.uuid4().hex[:6].upper()}")
    d.work.mkdir(parents=True)
    return d


def connector(driver: ZenMLDriver, tmp_path: Path, **extra) -> ZenMLConnector:
    settings = ZenMLSettings(url=driver.server.url, api_key_env=driver.env_var, artifact_root=str(driver.stores),
                             **extra)
    return ZenMLConnector(settings, AccountInfo("zen", "dev", secrets={driver.env_var: driver.server.api_key}),
                          root=tmp_path, cache_dir=tmp_path / "cache")


def synced(con: ZenMLConnector, model: str):
    snap = con.extract(None)
    versions = [v for v in snap.versions if v.model == model]
    models = [m for m in snap.models if m.name == model]
    return snap, versions, models


def test_a_pipeline_with_default_materializers_gives_a_review_its_data(driver: ZenMLDriver, tmp_path: Path) -> None:
    import duckdb

    model = f"credit-{uuid.uuid4().hex[:6]}"
    out = driver.run_user_pipeline(model, mapping=True)
    con = connector(driver, tmp_path)
    _, (version,), _ = synced(con, model)
    # the run metadata countersign.data named which artifact is which
    assert version.data_uris["reference"] == out["artifacts"]["train_df"]
    assert version.data_uris["validation"] == out["artifacts"]["scored_test"]
    # the pandas materializer's df.parquet.gzip (not its describe.csv / sample.csv), read as the Parquet it is
    local = con.fetch(version.data_uris["validation"])
    assert local.suffix == ".parquet"
    columns = [c[0] for c in duckdb.sql(f"DESCRIBE SELECT * FROM '{local}'").fetchall()]
    assert {"age", "income", "label", "prediction"} <= set(columns)
    assert version.report_uris == {"evidently_report": out["artifacts"]["evidently_report"],
                                   "shap_values": out["artifacts"]["shap_values"]}
    assert version.framework == "scikit-learn 1.9.1" and version.metrics["accuracy"] > 0


def test_data_found_by_artifact_name_and_written_as_csv(driver: ZenMLDriver, tmp_path: Path) -> None:
    # no mapping: train_df means the reference and test_df the validation data; without pyarrow the pandas
    # materializer writes df.csv
    model = f"credit-{uuid.uuid4().hex[:6]}"
    out = driver.run_user_pipeline(model, csv=True, shap=False)
    con = connector(driver, tmp_path)
    _, (version,), _ = synced(con, model)
    assert version.data_uris["reference"] == out["artifacts"]["train_df"]
    assert version.data_uris["validation"] == out["artifacts"]["test_df"]
    local = con.fetch(version.data_uris["reference"])
    assert local.suffix == ".csv" and local.read_text().splitlines()[0].endswith("label")


def test_a_pickled_model_is_fetched_and_refused_with_what_to_do(driver: ZenMLDriver, tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    model = f"credit-{uuid.uuid4().hex[:6]}"
    driver.run_user_pipeline(model, shap=False)
    con = connector(driver, tmp_path)
    _, (version,), _ = synced(con, model)
    path = con.fetch(version.artifact_uri)  # artifact.pkl, not "several files, name one"
    assert path.suffix == ".pkl"
    with pytest.raises(UnsafeArtifact, match="SHAP values"):
        load_model(path)


def test_the_risk_tier_comes_from_the_model_tag_else_the_version_tag(driver: ZenMLDriver, tmp_path: Path) -> None:
    model = f"credit-{uuid.uuid4().hex[:6]}"
    out = driver.run_user_pipeline(model, tags=["risk_tier:high"], shap=False)
    con = connector(driver, tmp_path)
    snap, _, (record,) = synced(con, model)
    assert record.risk_tier == "high"  # Model(tags=[...]) tagged the version
    model_id = driver.version(out["model_version_id"])["body"]["model"]["id"]
    driver.tag_model(model_id, "risk_tier:medium")  # the model's own tag wins
    again = con.extract(snap.watermark)
    assert [m.risk_tier for m in again.models if m.name == model] == ["medium"]
    assert [m.risk_tier for m in con.extract(None).models if m.name == model] == ["medium"]


# -- review on what the pipeline produced -------------------------------------------------------------------------

REVIEWER = "risk.officer@example.com"


def review_workspace(driver: ZenMLDriver, tmp_path: Path, model: str):
    """A workspace with the ZenML server as account ``zen`` and the model's protected attribute and label."""
    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.identity import Identity, identity_for
    from governance.sync import sync

    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text(driver.toml() + f'[roles]\n"{REVIEWER}" = ["risk_officer"]\n\n'
                              f'[models.{model}]\nprotected_attributes = ["gender"]\nlabel = "label"\n')
    settings = load_settings(ws, environ=driver.environ())
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    actor = identity_for(settings, REVIEWER, source="cli")
    admin = Identity("admin@example.com", frozenset({"admin"}), source="cli")
    assert all(r.status != "failed" for r in sync(Context(ws, settings, catalog, admin), full=True).results)
    return ws, settings, catalog, actor


def test_a_review_reads_the_pipelines_shap_values_and_its_evidently_report(driver: ZenMLDriver,
                                                                           tmp_path: Path) -> None:
    from governance.evidence import review_version

    model = f"credit-{uuid.uuid4().hex[:6]}"
    driver.run_user_pipeline(model, mapping=True)
    ws, settings, catalog, actor = review_workspace(driver, tmp_path, model)
    vid = f"zen:{model}:1"
    result = review_version(ws, settings, catalog, vid, actor=actor)
    # the model is a pickle, never loaded: the pipeline's SHAP values are the explanation, checked for shape
    explain = result.item("explain")
    assert explain.status == "computed", explain.message
    assert explain.evidence.inputs["shap_values"]["provenance"] == "reported by the pipeline"
    x = result.explain
    assert x.n_rows == 400 and set(x.features) == {"age", "income", "debt_ratio", "tenure"}
    assert set(x.group_importance) == {"gender"} and x.additivity_max_error is None
    assert result.item("bias").status == "computed"  # the validation data is the scored test set
    # the Evidently report is imported as reported by the pipeline, and recomputed on the same data: it agrees
    reported = result.item("drift_reported")
    assert reported.status == "computed", reported.message
    assert reported.evidence.result["agrees"] is True and "agrees" in reported.message
    assert reported.evidence.summary.values["provenance"] == "reported by the pipeline"
    # a second look loads what is stored
    again = review_version(ws, settings, catalog, vid, actor=actor, compute=False)
    assert again.item("explain").status == "cached" and again.item("drift_reported").status == "cached"


def test_a_pipeline_report_that_disagrees_with_its_data_is_a_finding(driver: ZenMLDriver, tmp_path: Path) -> None:
    from governance.evidence import review_version

    model = f"credit-{uuid.uuid4().hex[:6]}"
    # the test data's income is shifted, and the report step claims no drift anyway
    driver.run_user_pipeline(model, mapping=True, shift=15.0, tamper_report=True, shap=False)
    ws, settings, catalog, actor = review_workspace(driver, tmp_path, model)
    reported = review_version(ws, settings, catalog, f"zen:{model}:1", actor=actor,
                              kinds=("drift",)).item("drift_reported")
    assert reported.status == "error" and reported.evidence.result["agrees"] is False
    assert "DISAGREES" in reported.message and "income" in reported.message
    assert "income" in reported.evidence.summary.values["recomputed"]


def test_shap_values_that_do_not_fit_the_validation_data_are_refused(driver: ZenMLDriver, tmp_path: Path) -> None:
    from governance.evidence import review_version

    model = f"credit-{uuid.uuid4().hex[:6]}"
    out = driver.run_user_pipeline(model, mapping=True)
    # the validation data is now the training set: 800 rows against 400 rows of SHAP values
    driver.set_metadata(out["model_version_id"], {"countersign.data.validation": "train_df"})
    ws, settings, catalog, actor = review_workspace(driver, tmp_path, model)
    explain = review_version(ws, settings, catalog, f"zen:{model}:1", actor=actor, kinds=("explain",)).item("explain")
    assert explain.status == "error" and "400 rows, the validation data 800" in explain.message


@pytest.fixture(scope="module")
def prod_server(tmp_path_factory: pytest.TempPathFactory):
    """A second ZenML server (another team's prod; ~10-25 s to start), sharing nothing with the first but the
    artifact store folder the test names in its account."""
    from tests.connectors.zenml_server import ensure_venv, start_server

    root = tmp_path_factory.mktemp("zenml-prod")
    python, _ = ensure_venv(log=root / "venv-build.log")
    server = start_server(root / "server", python=python)
    yield server
    server.stop()


@pytest.mark.parametrize("target", ["project", "server"])
def test_a_promotion_to_another_zenml_project_or_server_carries_the_card_tags_metrics_and_data(
        driver: ZenMLDriver, tmp_path: Path, target: str, request: pytest.FixtureRequest) -> None:
    # another project of the same server, or another server: the promotion registers a copy there (the same
    # artifact store, which both accounts read); the copy carries the card, the tags, the metrics and the data
    from connectors.base import PromotionRef

    model = f"credit-{uuid.uuid4().hex[:6]}"
    out = driver.run_user_pipeline(model, mapping=True, tags=["risk_tier:high"])
    version_id = out["model_version_id"]
    model_id = driver.version(version_id)["body"]["model"]["id"]
    driver._call("PUT", f"/models/{model_id}", json={
        "description": "Probability of default", "use_cases": "retail loan approval", "license": "internal",
        "limitations": "EU applicants only", "add_tags": ["team:credit"]})
    driver._call("PUT", f"/model_versions/{version_id}", json={"description": "GBM on the 2026-10 book"})
    stages = {"production": "prod"}
    src = connector(driver, tmp_path / "s")
    if target == "project":
        url, api_key, project = driver.server.url, driver.server.api_key, f"prod-{uuid.uuid4().hex[:6]}"
        driver._call("POST", "/projects", json={"name": project, "display_name": project})
    else:
        prod = request.getfixturevalue("prod_server")
        url, api_key, project = prod.url, prod.api_key, "default"
    dst = ZenMLConnector(ZenMLSettings(url=url, api_key_env="ZENML_PROD_KEY", project=project,
                                       artifact_root=str(driver.stores), stage_environments=stages),
                         AccountInfo("zen-prod", "prod", secrets={"ZENML_PROD_KEY": api_key}),
                         root=tmp_path / "d", cache_dir=tmp_path / "d" / "cache")
    assert dst.same_server(src) is False
    (source,) = [v for v in src.extract(None).versions if v.model == model]
    ref = PromotionRef("req-zen-copy", "ab" * 32, "zen", source.source_ref, ("a@x", "b@x"), environment="prod",
                       artifact_sha256=source.artifact_sha256)
    copy = dst.register_copy(source, src, ref)
    assert dst.register_copy(source, src, ref).source_ref == copy.source_ref  # once per request
    assert copy.labels == ("production",) and copy.environment == "prod"
    assert copy.raw["description"] == "GBM on the 2026-10 book" and "risk_tier:high" in copy.raw["tags"]
    assert copy.metrics["accuracy"] == source.metrics["accuracy"]
    for key in ("reference", "validation"):  # what this account reads: here the same store
        assert copy.data_uris[key] == source.data_uris[key]
        assert dst.fetch(copy.data_uris[key]).exists()
    assert copy.report_uris == source.report_uris
    snap = dst.extract(None)
    (record,) = [m for m in snap.models if m.name == model]
    assert (record.description, record.intended_use, record.risk_tier) == (
        "Probability of default", "retail loan approval", "high")
    assert record.tags.get("team") == "credit"
    (card,) = [c for c in snap.model_cards if c.model == model]
    assert (card.content["license"], card.content["limitations"]) == ("internal", "EU applicants only")
    if target == "server":
        # the source server knows nothing of the copy
        assert [v.version for v in src.extract(None).versions if v.model == model] == [1]
        # a prod server whose account cannot read the source's artifact store refuses, registering nothing there
        other = f"credit-{uuid.uuid4().hex[:6]}"
        out2 = driver.run_user_pipeline(other, mapping=True)
        (source2,) = [v for v in src.extract(None).versions if v.model == other]
        blind = ZenMLConnector(ZenMLSettings(url=url, api_key_env="ZENML_PROD_KEY", artifact_root=str(tmp_path / "own"),
                                             stage_environments=stages),
                               AccountInfo("zen-prod", "prod", secrets={"ZENML_PROD_KEY": api_key}),
                               root=tmp_path / "b", cache_dir=tmp_path / "b" / "cache")
        ref2 = PromotionRef("req-zen-blind", "ab" * 32, "zen", source2.source_ref, ("a@x", "b@x"),
                            environment="prod", artifact_sha256=source2.artifact_sha256)
        with pytest.raises(ArtifactMismatch):
            blind.register_copy(source2, src, ref2)
        assert out2["model_version_id"] and [m for m in blind.extract(None).models if m.name == other] == []
