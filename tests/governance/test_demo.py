"""The demo workspace: deterministic, idempotent, and carrying the planted truths of docs/demo.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from scipy.stats import wasserstein_distance

from governance.catalog import Catalog, InventoryFilter
from governance.config import Workspace, load_settings
from governance.demo import PERSONAS, build_demo, deterministic_skops
from governance.identity import os_user


def test_two_builds_hold_the_same_catalog_content(demo_workspace: Workspace, tmp_path: Path) -> None:
    other = build_demo(tmp_path / "again")
    assert Catalog(other.catalog_path).table_digest() == Catalog(demo_workspace.catalog_path).table_digest()
    a = sorted(p.relative_to(demo_workspace.root / "registry") for p in (demo_workspace.root / "registry").rglob("*"))
    b = sorted(p.relative_to(other.root / "registry") for p in (other.root / "registry").rglob("*"))
    assert a == b


def test_building_again_is_idempotent(demo_copy: Workspace) -> None:
    cat = Catalog(demo_copy.catalog_path)
    before = (cat.table_digest(), cat.counts())
    build_demo(demo_copy.root)
    assert (cat.table_digest(), cat.counts()) == before


def test_three_models_across_three_environments(demo_catalog: Catalog, demo_settings) -> None:
    inv = demo_catalog.inventory()
    assert set(inv["model"]) == {"claims-fraud", "credit-approval", "repair-cost"}
    assert set(inv["environment"]) == {"dev", "staging", "prod"}
    assert demo_settings.workspace.demo is True
    # the personas, and the operating-system user who built the demo as its command-line admin
    assert set(demo_settings.roles) == set(PERSONAS) | {f"os:{os_user()}"}
    assert demo_settings.roles[f"os:{os_user()}"] == ("admin",)
    for model in ("claims-fraud", "credit-approval", "repair-cost"):
        assert demo_catalog.model(model).owner
        assert demo_catalog.model_card(model) is not None
    prod = demo_catalog.version("lab-prod:claims-fraud:2")
    assert [v.version_id for v in demo_catalog.lineage(prod.version_id)] == [
        "lab-prod:claims-fraud:2", "lab-staging:claims-fraud:2", "lab-dev:claims-fraud:2"]
    assert prod.metrics["auc"] > 0.7
    assert demo_catalog.run(prod.run_id)["params"]["n_estimators"] == "60"


def test_planted_unapproved_deployment(demo_catalog: Catalog) -> None:
    inv = demo_catalog.inventory(InventoryFilter(environments=("prod",)))
    flagged = inv[inv["unapproved_deployment"]]
    assert flagged["version_id"].tolist() == ["lab-prod:repair-cost:2"]
    assert flagged["deployed_on"].tolist() == ["repair-cost-prod"]


def _frame(ws: Workspace, env: str, model: str, version: int, name: str) -> pd.DataFrame:
    return pd.read_parquet(ws.root / "registry" / env / model / str(version) / f"{name}.parquet")


def test_planted_four_fifths_failure_only_on_credit_v3(demo_workspace: Workspace) -> None:
    # independent of our bias engine: plain pandas selection rates on the validation data
    for env, model, version in [("staging", "credit-approval", 1), ("staging", "credit-approval", 2),
                                ("staging", "credit-approval", 3), ("prod", "claims-fraud", 2),
                                ("staging", "claims-fraud", 3), ("prod", "credit-approval", 1)]:
        df = _frame(demo_workspace, env, model, version, "validation")
        for attribute in ("gender", "age_band"):
            rates = df.groupby(attribute)["prediction"].mean()
            ratio = rates.min() / rates.max()
            planted = (model, version, attribute) == ("credit-approval", 3, "gender")
            assert (ratio < 0.8) == planted, (env, model, version, attribute, ratio)


def test_planted_drift_only_on_two_columns_of_claims_prod_v2(demo_workspace: Workspace) -> None:
    ref = _frame(demo_workspace, "prod", "claims-fraud", 2, "reference")
    cur = _frame(demo_workspace, "prod", "claims-fraud", 2, "current")
    numeric = ["claim_amount", "vehicle_age", "policy_tenure_years", "prior_claims", "days_to_report"]
    normed = {c: wasserstein_distance(ref[c], cur[c]) / np.std(ref[c]) for c in numeric}
    assert {c for c, w in normed.items() if w >= 0.1} == {"claim_amount", "vehicle_age"}
    stable = _frame(demo_workspace, "staging", "claims-fraud", 3, "current")
    ref3 = _frame(demo_workspace, "staging", "claims-fraud", 3, "reference")
    assert all(wasserstein_distance(ref3[c], stable[c]) / np.std(ref3[c]) < 0.1 for c in numeric)


def test_models_load_with_skops_and_reproduce_the_stored_predictions(demo_workspace: Workspace) -> None:
    vdir = demo_workspace.root / "registry" / "staging" / "credit-approval" / "3"
    meta = json.loads((vdir / "metadata.json").read_text())
    path = vdir / "model.skops"
    untrusted = sio.get_untrusted_types(file=path)
    model = sio.load(path, trusted=untrusted)
    df = pd.read_parquet(vdir / "validation.parquet")
    features = meta["metadata"]["features"].split(",")
    assert np.allclose(model.predict_proba(df[features].to_numpy(float))[:, 1], df["score"], atol=1e-6)
    assert "gender_female" in features


def test_skops_rewrite_is_byte_stable_and_loadable(demo_workspace: Workspace) -> None:
    path = demo_workspace.root / "registry" / "dev" / "repair-cost" / "1" / "model.skops"
    blob = path.read_bytes()
    assert deterministic_skops(blob) == blob
    model = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    assert hasattr(model, "predict")


def test_settings_of_the_demo_validate(demo_workspace: Workspace) -> None:
    settings = load_settings(demo_workspace)
    assert settings.tier(settings.models["credit-approval"].risk_tier).approvals_required == 2
    assert settings.models["credit-approval"].protected_attributes == ("gender", "age_band")
