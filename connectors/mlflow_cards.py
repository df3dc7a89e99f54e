"""MLflow registered models as Countersign's card (:class:`connectors.base.CardWriter`).

MLflow has no model card: the registered model's ``description`` holds Countersign's ``description`` field and
every other field is a registered-model tag ``countersign.card.<field>``; other tags are kept. MLflow has no
conditional update: the model is read again right before the write and a change since the caller's read is
refused; a write landing between that read and the update would still be lost (a window of one call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import CARD_FIELDS, RegistryCard
from core.errors import ConflictError

TAG_PREFIX = "countersign.card."
API = "/api/2.0/mlflow"


class RegisteredModelCards:
    """Reading and writing a registered model's description and card tags (mixed into the MLflow connector, whose
    ``registry`` is the REST client of the model registry)."""

    registry: Any

    def _registered(self, model: str) -> dict[str, Any]:
        return self.registry.get("registered-models/get", name=model)["registered_model"]

    def read_card(self, model: str) -> RegistryCard:
        """The registered model's description and ``countersign.card.*`` tags in Countersign's field names."""
        found = self._registered(model)
        tags = {t["key"]: t.get("value") or "" for t in found.get("tags") or []}
        fields = {f: tags[TAG_PREFIX + f] for f in CARD_FIELDS if f != "description" and tags.get(TAG_PREFIX + f)}
        if found.get("description"):
            fields["description"] = found["description"]
        return RegistryCard(f"MLflow registered model {model}", fields, CARD_FIELDS,
                            str(found.get("last_updated_timestamp") or ""))

    def write_card(self, model: str, fields: Mapping[str, str], expected_revision: str) -> RegistryCard:
        """Write the description and the card tags (an empty field deletes its tag), unless changed since read."""
        before = self.read_card(model)
        if before.revision != expected_revision:
            raise ConflictError(f"the MLflow registered model {model} changed since it was read; read it again")
        for name in CARD_FIELDS:
            if name not in fields:
                continue
            value = (fields[name] or "").strip()
            if value == before.fields.get(name, ""):
                continue
            if name == "description":
                self.registry.request("PATCH", f"{API}/registered-models/update",
                                      body={"name": model, "description": value})
            elif value:
                self.registry.post("registered-models/set-tag", {"name": model, "key": TAG_PREFIX + name,
                                                                 "value": value})
            else:
                self.registry.request("DELETE", f"{API}/registered-models/delete-tag",
                                      body={"name": model, "key": TAG_PREFIX + name})
        return self.read_card(model)
