"""Model card write-back to the registries as their servers hold cards: SageMaker Model Cards (moto server), MLflow
registered model description and tags, ZenML model fields (real servers). A registry change since the edit is a
conflict shown with both values; the registry's card is never overwritten then."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from governance import cards
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import Identity, identity_for
from tests.connectors import sagemaker_seed as seed
from tests.connectors.mlflow_driver import MlflowDriver, unique
from tests.connectors.test_label_promotion import open_workspace, sync_all, zenml_workspace
from tests.connectors.test_sagemaker_sync import make_workspace, run_sync
from tests.connectors.zenml_driver import ZenMLDriver

ENGINEER = Identity("ml.engineer@example.com", frozenset({"ml_engineer"}))


def context(ws: Workspace, catalog: Catalog) -> Context:
    return Context(ws, load_settings(ws), catalog, ENGINEER)


# -- SageMaker Model Cards on the moto server ------------------------------------------------------------------------


@pytest.fixture
def sagemaker_world(aws_env, tmp_path: Path):
    sc = seed.Scenario()
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    versions = seed.seed_group(sm, s3, sc, "ml-prod", "credit-approval", 1)
    seed.seed_card(sm, sc, "ml-prod", "credit-approval", versions[0], "Medium")
    ws, catalog = make_workspace(tmp_path)
    run_sync(ws, catalog, accounts=["ml-prod"])
    return ws, catalog, sm


def _content(sm, name: str = "credit-approval") -> tuple[dict, int]:
    card = sm.describe_model_card(ModelCardName=name)
    return json.loads(card["Content"]), card["ModelCardVersion"]


def test_sagemaker_model_card_is_read_edited_and_written_back_as_a_new_card_version(sagemaker_world) -> None:
    ws, catalog, sm = sagemaker_world
    ctx = context(ws, catalog)
    view = cards.card_view(ctx, "credit-approval")
    registry = view.registries["ml-prod"]
    assert registry.fields == {"intended_uses": "retail credit approval", "risk_rating": "Medium"}
    assert registry.target == "SageMaker model card credit-approval"
    cards.edit_card(ctx, "credit-approval", {"limitations": "Not for small-business lending.",
                                             "risk_rating": "High", "materiality": "high"}, "validation agreed")
    (result,) = cards.write_back(ctx, "credit-approval")
    assert result.status == "written" and set(result.written) >= {"limitations", "risk_rating", "materiality"}
    content, version = _content(sm)
    assert version == 2  # update_model_card made a new card version
    assert content["intended_uses"]["risk_rating"] == "High"
    assert content["additional_information"]["caveats_and_recommendations"] == "Not for small-business lending."
    assert content["additional_information"]["custom_details"]["materiality"] == "high"
    assert content["model_overview"]["model_owner"] == "risk-ml"  # what Countersign does not edit is kept


def test_a_sagemaker_card_changed_since_the_edit_is_a_conflict_and_keeps_its_version(sagemaker_world) -> None:
    ws, catalog, sm = sagemaker_world
    ctx = context(ws, catalog)
    cards.edit_card(ctx, "credit-approval", {"risk_rating": "High"}, "validation agreed")
    content, _ = _content(sm)
    content["intended_uses"]["risk_rating"] = "Low"  # the ML team changes the card in SageMaker meanwhile
    sm.update_model_card(ModelCardName="credit-approval", Content=json.dumps(content))
    (result,) = cards.write_back(ctx, "credit-approval")
    assert result.status == "conflict"
    (conflict,) = result.conflicts
    assert (conflict.field, conflict.registry, conflict.countersign, conflict.base) == (
        "risk_rating", "Low", "High", "Medium")
    content, version = _content(sm)
    assert version == 2 and content["intended_uses"]["risk_rating"] == "Low"  # not overwritten


def test_a_model_without_a_sagemaker_card_gets_one_created(sagemaker_world) -> None:
    ws, catalog, sm = sagemaker_world
    sm.delete_model_card(ModelCardName="credit-approval")
    ctx = context(ws, catalog)
    cards.edit_card(ctx, "credit-approval", {"intended_uses": "retail credit approval"}, "first card")
    (result,) = cards.write_back(ctx, "credit-approval")
    assert result.status == "written"
    content, version = _content(sm)
    assert version == 1 and content["intended_uses"]["intended_uses"] == "retail credit approval"
    assert sm.describe_model_card(ModelCardName="credit-approval")["ModelCardStatus"] == "Draft"


# -- MLflow and ZenML on their real servers --------------------------------------------------------------------------


def _edit_then_write(ws, settings, catalog, model: str, changes: dict[str, str]) -> Context:
    ctx = Context(ws, settings, catalog, identity_for(settings, "ml.engineer@example.com", source="cli"))
    cards.edit_card(ctx, model, changes, "validation agreed")
    return ctx


@pytest.mark.timeout(900)
def test_mlflow_registered_model_description_and_tags_hold_the_card(mlflow_servers, tmp_path: Path) -> None:
    seed = MlflowDriver(mlflow_servers[0])
    model = unique("card")
    seed.create_model(model, description="Scores retail credit applications.", tags={"team": "risk-ml"})
    seed.add_version(model)
    ws, settings, catalog = open_workspace(tmp_path / "ws", {"mlf": {"environment": "dev", "connector": "mlflow",
                                                                 **seed.settings()}})
    sync_all(ws, settings, catalog)
    ctx = _edit_then_write(ws, settings, catalog, model, {"limitations": "Not for small-business lending.",
                                                          "risk_rating": "High"})
    assert cards.card_view(ctx, model).registries["mlf"].fields == {
        "description": "Scores retail credit applications."}
    (result,) = cards.write_back(ctx, model)
    assert result.status == "written", result.detail
    got = seed.get("registered-models/get", name=model)["registered_model"]
    tags = {t["key"]: t["value"] for t in got["tags"]}
    assert tags["countersign.card.limitations"] == "Not for small-business lending."
    assert tags["countersign.card.risk_rating"] == "High" and tags["team"] == "risk-ml"  # other tags kept
    assert got["description"] == "Scores retail credit applications."
    # the description changed on the server meanwhile: a conflict, the server's text stays
    cards.edit_card(ctx, model, {"description": "Credit scoring (retail)."}, "shorter")
    seed.request("PATCH", "registered-models/update", {"name": model, "description": "Edited in the MLflow UI."})
    (result,) = cards.write_back(ctx, model)
    assert result.status == "conflict" and result.conflicts[0].registry == "Edited in the MLflow UI."
    assert seed.get("registered-models/get", name=model)["registered_model"]["description"] == \
        "Edited in the MLflow UI."


@pytest.mark.timeout(900)
def test_zenml_model_fields_hold_the_card_and_the_rest_stays_in_countersign(zenml_server, tmp_path: Path) -> None:
    env_var = f"ZENML_KEY_{uuid.uuid4().hex[:6].upper()}"
    seed = ZenMLDriver(zenml_server, tmp_path / "zenml-work", env_var=env_var)
    seed.work.mkdir(parents=True)
    model = seed.create_model(use_cases="Claims triage.", limitations="Motor claims only.")
    seed.add_version(model)
    ws, settings, catalog = zenml_workspace(seed, tmp_path / "ws")
    sync_all(ws, settings, catalog)
    name = model["name"]
    ctx = _edit_then_write(ws, settings, catalog, name, {"ethical_considerations": "Age is protected.",
                                                         "materiality": "high"})
    (result,) = cards.write_back(ctx, name)
    assert result.status == "written" and result.written == ("ethical_considerations",)
    assert "materiality" in result.kept_here  # ZenML has no place for it
    meta = seed._call("GET", f"/models/{model['id']}", params={"hydrate": "true"})["metadata"]
    assert (meta["ethics"], meta["use_cases"], meta["limitations"]) == (
        "Age is protected.", "Claims triage.", "Motor claims only.")
    cards.edit_card(ctx, name, {"limitations": "Motor and home claims."}, "scope grew")
    seed._call("PUT", f"/models/{model['id']}", json={"limitations": "Motor claims under 10k only."})
    (result,) = cards.write_back(ctx, name)
    assert result.status == "conflict" and result.conflicts[0].field == "limitations"
    meta = seed._call("GET", f"/models/{model['id']}", params={"hydrate": "true"})["metadata"]
    assert meta["limitations"] == "Motor claims under 10k only."
