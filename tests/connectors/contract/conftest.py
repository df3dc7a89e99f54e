"""The contract suite's fixtures: ``driver`` is parametrised over every kind in ``DRIVERS`` (test ids carry it).

Add a kind: a driver fixture (its class in ``drivers.py`` or a module of its own) and one line in ``DRIVERS``.
``test_contract.py`` fails while a registered connector kind has no driver.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connectors.contract.drivers import FolderDriver, SageMakerDriver

# connector kind -> the fixture that stands up its real source and returns its SourceDriver
DRIVERS: dict[str, str] = {
    "folder": "folder_driver",
    "sagemaker": "sagemaker_driver",
}


@pytest.fixture
def folder_driver(tmp_path: Path) -> FolderDriver:
    return FolderDriver(tmp_path / "registries")


@pytest.fixture
def sagemaker_driver(aws_env) -> SageMakerDriver:
    return SageMakerDriver()


@pytest.fixture(params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest):
    """The source driver of one registered connector kind."""
    return request.getfixturevalue(DRIVERS[request.param])
