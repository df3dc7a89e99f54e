"""The MLflow connector: the parts (session, extract, promote) put together as one :class:`Connector`."""

from __future__ import annotations

from connectors.mlflow.promote import Promotion
from connectors.mlflow_cards import RegisteredModelCards


class MlflowConnector(RegisteredModelCards, Promotion):
    """One MLflow tracking server, or one workspace of it (``[[accounts]] connector = "mlflow"``).

    The parts, each a class its successor extends: :class:`~connectors.mlflow.session.MlflowSession` (clients,
    ``fetch``, artifact digests) ← :class:`~connectors.mlflow.extract.Extraction` (``prefetch``, ``extract``,
    ``read_version``) ← :class:`~connectors.mlflow.promote.Promotion` (``set_approval``, ``register_copy``).
    """
