"""The SageMaker connector: the parts (session, extract, promote) put together as one :class:`Connector`."""

from __future__ import annotations

from connectors.sagemaker.promote import Promotion


class SageMakerConnector(Promotion):
    """One SageMaker account and region (``[[accounts]] connector = "sagemaker"``).

    The parts, each a class its successor extends: :class:`~connectors.sagemaker.session.SageMakerSession` (sessions,
    clients, ``fetch``) ← :class:`~connectors.sagemaker.extract.Extraction` (``extract``) ←
    :class:`~connectors.sagemaker.promote.Promotion` (``set_approval``, ``register_copy``).
    """
