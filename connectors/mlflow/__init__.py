"""MLflow connector: one MLflow tracking server's model registry, runs and artifacts (``connector = "mlflow"``).

Everything goes over MLflow's REST API (``/api/2.0/mlflow/``) with one small httpx client; artifacts go through the
server's artifact proxy (``/api/2.0/mlflow-artifacts/``). Credentials come the MLflow way, from environment
variables named by the settings (``MLFLOW_TRACKING_TOKEN``, or ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD``): the settings hold the variable names, their values are read at the
edge and handed in as ``AccountInfo.secrets``, and nothing here reads ``os.environ``.

What one sync reads (per server):

- ``registered-models/search`` (pages of 1000): every model with its description, tags and **aliases**. MLflow
  keeps no history of aliases and moving one changes no timestamp, so the aliases of every model are compared with
  the previous sync's on every sync; a move re-reads the versions it touched.
- ``model-versions/search`` ordered by ``last_updated_timestamp DESC`` (pages of :data:`VERSION_PAGE`): everything
  on a full pass; on an incremental one, pages until the versions are older than the watermark.
- the runs behind those versions, in batches (``runs/search`` with ``attributes.run_id IN (...)``): params,
  latest metrics, tags and dataset inputs; and the MLflow 3 logged model (``logged-models/{id}``) of a version
  that names one.

The watermark is compact JSON: the newest ``last_updated_timestamp`` seen, the versions at that instant, each
model's alias map and a short hash of each model's fields, and versions to read again (they had a problem).

Approval: MLflow OSS has no approvals. A version's ``approval_status`` is its tag ``countersign.approval``
(``Approved`` / ``Rejected`` / ``PendingManualApproval``), written by Countersign's promotion; a version without it is
``PendingManualApproval``; any other value is a sync issue and the version is skipped (the catalog keeps its row).

The rooms of this package (each under 800 lines):

- :mod:`~connectors.mlflow.settings`: ``MlflowSettings``, credentials, the tags Countersign reads and writes (light:
  validating a config imports no HTTP client).
- :mod:`~connectors.mlflow.client`: pooled httpx clients, the call meter, errors as one-line messages.
- :mod:`~connectors.mlflow.records`: MLflow's answers mapped to models, runs and versions (no I/O).
- :mod:`~connectors.mlflow.datasets`: the run's dataset inputs as the data a review reads; MLflow's pandas digest.
- :mod:`~connectors.mlflow.session`: ``fetch`` of artifacts and datasets, artifact digests.
- :mod:`~connectors.mlflow.extract`: the watermark, ``prefetch`` and ``extract``.
- :mod:`~connectors.mlflow.promote`: ``set_approval`` and ``register_copy``.
- :mod:`~connectors.mlflow.connector`: ``MlflowConnector``, the parts put together.
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.mlflow.settings import (
    TAG_APPROVAL,
    TAG_ARTIFACT_SHA256,
    TAG_DATA,
    TAG_REQUEST,
    Credentials,
    MlflowSettings,
)

# the heavier parts load on first use: validating a config (the settings) imports no HTTP client
_LAZY = {"MlflowConnector": "connectors.mlflow.connector", "forget_clients": "connectors.mlflow.client",
         "version_ref": "connectors.mlflow.records"}

__all__ = ["TAG_APPROVAL", "TAG_ARTIFACT_SHA256", "TAG_DATA", "TAG_REQUEST", "Credentials", "MlflowConnector",
           "MlflowSettings", "forget_clients", "version_ref"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'connectors.mlflow' has no attribute {name!r}")
