"""The SageMaker connector: the parts (session, extract, promote) put together as one :class:`Connector`."""

from __future__ import annotations

from connectors.sagemaker.cards import ModelCards
from connectors.sagemaker.history import HistoryReading
from connectors.sagemaker.promote import Promotion


class SageMakerConnector(ModelCards, Promotion, HistoryReading):
    """One SageMaker account and region (``[[accounts]] connector = "sagemaker"``).

    The parts, each a class its successor extends: :class:`~connectors.sagemaker.session.SageMakerSession` (sessions,
    clients, ``fetch``) ← :class:`~connectors.sagemaker.extract.Extraction` (``extract``) ←
    :class:`~connectors.sagemaker.promote.Promotion` (``set_approval``, ``register_copy``), and
    :class:`~connectors.sagemaker.cards.ModelCards` (``read_card``, ``write_card``); beside them
    :class:`~connectors.sagemaker.history.HistoryReading` (``read_history``, ``event_queue``: backfill and events).
    """
