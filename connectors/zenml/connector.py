"""The ZenML connector: the parts (session, extract, promote) put together as one :class:`Connector`."""

from __future__ import annotations

from connectors.zenml.promote import Promotion
from connectors.zenml_cards import ZenMLModelCards


class ZenMLConnector(ZenMLModelCards, Promotion):
    """One ZenML server and project (``[[accounts]] connector = "zenml"``).

    The parts, each a class its successor extends: :class:`~connectors.zenml.session.ZenMLSession` (client,
    ``fetch``, artifact digests) ← :class:`~connectors.zenml.extract.Extraction` (``extract``) ←
    :class:`~connectors.zenml.promote.Promotion` (``set_approval``, ``register_copy``).
    """
