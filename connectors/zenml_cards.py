"""ZenML model fields as Countersign's card (:class:`connectors.base.CardWriter`).

A ZenML model carries card fields of its own: ``description``, ``use_cases`` (Countersign's ``intended_uses``),
``limitations`` and ``ethics`` (``ethical_considerations``) are written with ``PUT /api/v1/models/{id}``; the other
Countersign fields have no place in ZenML and stay in Countersign only. ZenML has no conditional update: the model
is read again right before the write and a change since the caller's read is refused; a write landing between that
read and the update would still be lost (a window of one call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import RegistryCard
from core.errors import ConflictError, NotFound

# Countersign field -> ZenML model field
FIELDS = {"description": "description", "intended_uses": "use_cases", "limitations": "limitations",
          "ethical_considerations": "ethics"}


class ZenMLModelCards:
    """Reading and writing a ZenML model's card fields (mixed into the ZenML connector: ``client``, ``project_id``)."""

    client: Any
    project_id: str

    def _model(self, model: str) -> dict[str, Any]:
        found = self.client.request("GET", "/models", params={"name": model, "project": self.project_id,
                                                              "hydrate": "true"})
        if not found.get("items"):
            raise NotFound(f"ZenML has no model {model!r} in this project")
        return found["items"][0]

    def read_card(self, model: str) -> RegistryCard:
        """The model's description, use cases, limitations and ethics in Countersign's field names."""
        found = self._model(model)
        meta = found.get("metadata") or {}
        fields = {ours: str(meta[theirs]) for ours, theirs in FIELDS.items() if meta.get(theirs)}
        return RegistryCard(f"ZenML model {model}", fields, tuple(FIELDS),
                            str((found.get("body") or {}).get("updated") or ""))

    def write_card(self, model: str, fields: Mapping[str, str], expected_revision: str) -> RegistryCard:
        """Write the held fields with ``PUT /models/{id}``, unless the model's card changed since it was read."""
        if self.read_card(model).revision != expected_revision:
            raise ConflictError(f"the ZenML model {model} changed since it was read; read it again")
        body = {theirs: (fields.get(ours) or "").strip() for ours, theirs in FIELDS.items() if ours in fields}
        if body:
            self.client.request("PUT", f"/models/{self._model(model)['id']}", json_body=body)
        return self.read_card(model)
