"""Every registered connector kind passes the connector contract (``suite.py``) against its real source."""

from __future__ import annotations

import connectors
from tests.connectors.contract.conftest import DRIVERS
from tests.connectors.contract.suite import *  # noqa: F403 - the contract's tests, run here for every kind


def test_every_registered_kind_has_a_contract_driver() -> None:
    assert set(connectors.kinds()) == set(DRIVERS), "add a source driver for every connector kind (conftest.DRIVERS)"
