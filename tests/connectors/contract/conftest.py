"""The contract suite's fixtures: ``driver`` is parametrised over every kind in ``DRIVERS`` (test ids carry it).

Add a kind: a driver fixture (its class in ``drivers.py`` or a module of its own) and one line in ``DRIVERS``.
``test_contract.py`` fails while a registered connector kind has no driver.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connectors.contract.drivers import FolderDriver, SageMakerDriver
from tests.connectors.contract.server_drivers import MlflowSourceDriver, ZenMLSourceDriver

# connector kind -> the fixture that stands up its real source and returns its SourceDriver
DRIVERS: dict[str, str] = {
    "folder": "folder_driver",
    "sagemaker": "sagemaker_driver",
    "zenml": "zenml_driver",
    "mlflow": "mlflow_driver",
}


@pytest.fixture
def folder_driver(tmp_path: Path) -> FolderDriver:
    return FolderDriver(tmp_path / "registries")


@pytest.fixture
def sagemaker_driver(aws_env) -> SageMakerDriver:
    return SageMakerDriver()


@pytest.fixture
def mlflow_driver(mlflow_servers) -> MlflowSourceDriver:
    return MlflowSourceDriver(mlflow_servers)


@pytest.fixture(scope="session")
def zenml_second_server(zenml_server, tmp_path_factory: pytest.TempPathFactory):
    """A second ZenML server (account ``dst``): a promotion from ``src`` registers a copy on another server."""
    from tests.connectors.zenml_server import ensure_venv, start_server

    server = start_server(tmp_path_factory.mktemp("zenml-dst") / "server", python=ensure_venv()[0])
    yield server
    server.stop()


@pytest.fixture
def zenml_driver(zenml_server, zenml_second_server, tmp_path: Path) -> ZenMLSourceDriver:
    return ZenMLSourceDriver([zenml_server, zenml_second_server], tmp_path / "zenml")


@pytest.fixture(params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest):
    """The source driver of one registered connector kind."""
    return request.getfixturevalue(DRIVERS[request.param])
