"""Model cards of a folder registry (:class:`connectors.base.CardWriter`): ``<model>/card.json``'s ``content``.

The folder keeps every Countersign card field under its own name; keys Countersign does not know are kept.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.base import CARD_FIELDS, RegistryCard
from core.clock import utcnow
from core.errors import ConflictError, ConnectorError, NotFound


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConnectorError(f"{path}: not a readable JSON card ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise ConnectorError(f"{path}: a card must be a JSON object")
    return data


class FolderCards:
    """Reading and writing ``card.json`` of a model folder (mixed into the folder connector)."""

    base: Path

    def _card_path(self, model: str) -> Path:
        folder = self.base / model
        if not folder.is_dir() or "/" in model or model.startswith("."):
            raise NotFound(f"model {model!r} is not in the folder registry {self.base}")
        return folder / "card.json"

    def read_card(self, model: str) -> RegistryCard:
        """``model``'s card.json content, in Countersign's field names."""
        path = self._card_path(model)
        content = _read(path).get("content") or {}
        fields = {k: str(v) for k, v in content.items() if k in CARD_FIELDS and v not in (None, "")}
        return RegistryCard(f"{model}/card.json", fields, CARD_FIELDS, _read(path).get("updated_at"))

    def write_card(self, model: str, fields: Mapping[str, str], expected_revision: str) -> RegistryCard:
        """Write the fields into card.json (other keys kept), unless it changed since ``expected_revision``."""
        if self.read_card(model).revision != expected_revision:
            raise ConflictError(f"{model}/card.json changed since it was read; read it again before writing")
        path = self._card_path(model)
        doc = _read(path)
        content = {**(doc.get("content") or {})}
        for key in CARD_FIELDS:
            value = (fields.get(key) or "").strip()
            if value:
                content[key] = value
            elif key in fields:
                content.pop(key, None)
        doc.update(content=content, updated_at=utcnow().replace(microsecond=0).isoformat())
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half a card
        return self.read_card(model)
