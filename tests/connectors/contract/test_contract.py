"""Every registered connector kind passes the connector contract (``suite.py``) against its real source."""

from __future__ import annotations

import connectors
from core import structs
from tests.connectors.contract.conftest import DRIVERS
from tests.connectors.contract.suite import *  # noqa: F403 - the contract's tests, run here for every kind


def test_every_registered_kind_has_a_contract_driver() -> None:
    assert set(connectors.kinds()) == set(DRIVERS), "add a source driver for every connector kind (conftest.DRIVERS)"


def test_every_kind_tells_a_reviewer_how_its_registry_names_a_versions_data() -> None:
    # the Review page shows this when a version has no reference, validation or current data: a sentence naming
    # the dataset, in the kind's own terms (a file name, a tag, metadata), never the other kinds' terms
    samples = {"folder": {"path": "registry"}, "sagemaker": {"region": "eu-west-1"},
               "mlflow": {"tracking_uri": "http://127.0.0.1:5000"}, "zenml": {"url": "http://127.0.0.1:8080", "api_key_env": "ZENML_KEY"}}
    words = {"folder": "folder", "sagemaker": "model package metadata", "mlflow": "tag the version",
             "zenml": "model version"}
    assert set(samples) == set(connectors.kinds())
    for kind in connectors.kinds():
        settings = structs.convert(samples[kind], connectors.settings_model(kind))
        for key in ("reference", "validation", "current"):
            hint = settings.data_hint(key)
            assert hint and key in hint and words[kind] in hint, (kind, key, hint)
            assert not any(words[k] in hint for k in words if k != kind and words[k] != words[kind]), (kind, hint)


def test_a_label_means_the_environment_its_settings_map_it_to_and_nothing_else() -> None:
    # oversight counts a version in use when it holds the label that means its environment
    mlflow = structs.convert(
        {"tracking_uri": "http://127.0.0.1:5000", "alias_environments": {"champion": "prod"}}, connectors.settings_model("mlflow"))
    zenml = structs.convert(
        {"url": "http://127.0.0.1:8080", "api_key_env": "ZENML_KEY", "stage_environments": {"production": "prod"}},
        connectors.settings_model("zenml"))
    assert (mlflow.label_environment("champion"), mlflow.label_environment("archived")) == ("prod", None)
    assert (zenml.label_environment("production"), zenml.label_environment("archived")) == ("prod", None)
    folder = structs.convert({"path": "registry"}, connectors.settings_model("folder"))
    assert folder.label_environment("champion") is None  # a kind without labels says so
