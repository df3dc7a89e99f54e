"""SageMaker Model Cards as Countersign's card (:class:`connectors.base.CardWriter`).

A model's card is the Model Card named after the model, else one whose ``model_overview.model_name`` is the model;
writing creates one (status Draft) when there is none. Countersign's fields map onto the Model Card content schema
(``model_overview``, ``intended_uses``, ``training_details``, ``additional_information``); the fields the schema
has no place for go to ``additional_information.custom_details``. Every other key of the content is kept.
``update_model_card`` makes a new card version (``ModelCardVersion``, the native revision). An archived card is
not written (AWS: no more updates to an archived card). SageMaker has no conditional update: the card is read again
right before the write and a change since the caller's read is refused; a write landing between that read and the
update would still be lost (a window of one call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.base import CARD_FIELDS, RegistryCard
from core.errors import ConflictError, ConnectorError

# Countersign field -> its place in the Model Card content
PLACES: dict[str, tuple[str, str]] = {
    "description": ("model_overview", "model_description"),
    "intended_uses": ("intended_uses", "intended_uses"),
    "risk_rating": ("intended_uses", "risk_rating"),
    "limitations": ("additional_information", "caveats_and_recommendations"),
    "ethical_considerations": ("additional_information", "ethical_considerations"),
    "training_data": ("training_details", "training_observations"),
}


def _get(content: Mapping[str, Any], name: str) -> str:
    if name in PLACES:
        section, key = PLACES[name]
        value = (content.get(section) or {}).get(key)
    else:
        value = ((content.get("additional_information") or {}).get("custom_details") or {}).get(name)
    return "" if value in (None, "") else str(value)


def _put(content: dict[str, Any], name: str, value: str) -> None:
    if name in PLACES:
        section, key = PLACES[name]
        part = content.setdefault(section, {})
    else:
        part = content.setdefault("additional_information", {}).setdefault("custom_details", {})
        key = name
    if value:
        part[key] = value
    else:
        part.pop(key, None)


class ModelCards:
    """Reading and writing a model's SageMaker Model Card (mixed into the SageMaker connector, whose session gives
    ``client``)."""

    client: Any

    def _find_card(self, model: str, purpose: str) -> dict[str, Any] | None:
        """The describe of the model's card, or None when it has none."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker", purpose)
        try:
            return sm.describe_model_card(ModelCardName=model)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ResourceNotFound", "ValidationException"):
                raise ConnectorError(f"cannot read model card {model}: {exc}") from None
        except BotoCoreError as exc:
            raise ConnectorError(f"cannot read model card {model}: {exc}") from None
        try:
            for page in sm.get_paginator("list_model_cards").paginate():
                for summary in page.get("ModelCardSummaries", []):
                    card = sm.describe_model_card(ModelCardName=summary["ModelCardName"])
                    overview = json.loads(card.get("Content") or "{}").get("model_overview") or {}
                    if overview.get("model_name") == model:
                        return card
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise ConnectorError(f"cannot list model cards to find {model}'s: {exc}") from None
        return None

    @staticmethod
    def _as_card(model: str, card: dict[str, Any] | None) -> RegistryCard:
        if card is None:
            return RegistryCard(f"SageMaker model card {model} (none yet)", {}, CARD_FIELDS)
        try:
            content = json.loads(card.get("Content") or "{}")
        except ValueError:
            raise ConnectorError(f"model card {card['ModelCardName']}: its content is not JSON") from None
        fields = {f: _get(content, f) for f in CARD_FIELDS if _get(content, f)}
        return RegistryCard(f"SageMaker model card {card['ModelCardName']}", fields, CARD_FIELDS,
                            str(card.get("ModelCardVersion")))

    def read_card(self, model: str) -> RegistryCard:
        """``model``'s Model Card in Countersign's field names."""
        return self._as_card(model, self._find_card(model, "sync"))

    def write_card(self, model: str, fields: Mapping[str, str], expected_revision: str) -> RegistryCard:
        """Write the fields into the Model Card's content (a new card version), unless it changed since read."""
        from botocore.exceptions import BotoCoreError, ClientError

        card = self._find_card(model, "promote")
        if self._as_card(model, card).revision != expected_revision:
            raise ConflictError(f"the SageMaker model card of {model} changed since it was read; read it again")
        if card is not None and card.get("ModelCardStatus") == "Archived":
            raise ConflictError(f"the SageMaker model card {card['ModelCardName']} is archived: no more updates")
        content = json.loads(card.get("Content") or "{}") if card else {"model_overview": {"model_name": model}}
        for name in CARD_FIELDS:
            if name in fields:
                _put(content, name, (fields[name] or "").strip())
        sm = self.client("sagemaker", "promote")
        try:
            if card is None:
                sm.create_model_card(ModelCardName=model, Content=json.dumps(content), ModelCardStatus="Draft")
            else:
                sm.update_model_card(ModelCardName=card["ModelCardName"], Content=json.dumps(content))
        except (ClientError, BotoCoreError) as exc:
            raise ConnectorError(f"cannot write the SageMaker model card of {model}: {exc}") from None
        return self.read_card(model)
