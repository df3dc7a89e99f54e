"""ZenML connector: one ZenML server's Model Control Plane — models, versions and stages, pipeline runs, metadata.

Everything goes over ZenML's REST API (``/api/v1/``) with ``httpx``; the ``zenml`` package is not needed (it
weighs ~220 MB with its server extras and pins versions that clash with the portal's; see docs/zenml.md).

Authentication: a service account's API key (``ZENKEY_…``), read at the edge from the environment variable the
account names (``api_key_env``) and handed to the connector as a value, is exchanged at ``POST /api/v1/login`` for a
bearer token. Logging in costs ~2 s on the server (the key is hashed), so tokens are kept per (server, key) for the
life of the process; an answer 401 (expired or revoked token) logs in again once, and a second 401 is a clear
:class:`ConnectorError` naming the variable.

Incremental sync. Every listing is sorted by update time and filtered with ``updated=gte:<cut>``, where the cut is
the newest update time the previous sync saw minus a small overlap (ZenML filters by whole seconds, and a write
committed late may carry an earlier time). Items seen in the overlap with the same update time are skipped, so a
re-sync with no change returns nothing. A stage move updates both the version that gains the stage and the one
ZenML archives. Run metadata written alone does not change a version's update time (ZenML 0.98): Countersign's own
writes touch the version too; other metadata-only edits are picked up by the next full pass, like SageMaker's.

Stages: ``VersionRecord.labels`` is ``(stage,)``; with ``stage_environments`` a staged version names the environment
it is in (``staging -> staging``, ``production -> prod``), so one server can hold several environments.

Approvals: ZenML's open-source server has none. A version's approval status is its run metadata
``countersign.approval`` (written by Countersign's ``set_approval`` and by promotion), else
``PendingManualApproval``: a version in ZenML's ``production`` stage is not approved unless Countersign said so.

The rooms of this package (each under 800 lines):

- :mod:`~connectors.zenml.settings`: ``ZenMLSettings`` and the run metadata keys (light: no HTTP client).
- :mod:`~connectors.zenml.client`: the REST client, tokens per (server, key), pooled connections.
- :mod:`~connectors.zenml.records`: ZenML's answers mapped to models, cards, versions and runs (no I/O).
- :mod:`~connectors.zenml.session`: ``fetch`` of artifacts (local store, S3) and artifact digests.
- :mod:`~connectors.zenml.extract`: the watermark and ``extract``.
- :mod:`~connectors.zenml.promote`: ``set_approval`` and ``register_copy``.
- :mod:`~connectors.zenml.connector`: ``ZenMLConnector``, the parts put together.
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.zenml.settings import ZenMLSettings

# the heavier parts load on first use: validating a config (the settings) imports no HTTP client
_LAZY = {"ZenMLConnector": "connectors.zenml.connector", "forget_tokens": "connectors.zenml.client",
         "ZenMLClient": "connectors.zenml.client"}

__all__ = ["ZenMLClient", "ZenMLConnector", "ZenMLSettings", "forget_tokens"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'connectors.zenml' has no attribute {name!r}")
