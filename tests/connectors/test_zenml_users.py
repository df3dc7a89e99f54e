"""ZenML as its users run it: a ``@pipeline`` with ``Model(...)``, ZenML's default materializers, an Evidently step
and SHAP values (``tests/connectors/zenml_user_pipeline.py``, run by the pipelines virtualenv) against a real
ZenML 0.98 server, then Countersign's sync and fetch of what it logged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.base import AccountInfo
from connectors.zenml import ZenMLConnector, ZenMLSettings
from core.errors import UnsafeArtifact
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
