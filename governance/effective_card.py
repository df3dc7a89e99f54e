"""The model card the gates and reports read: Countersign's newest edit, else the synced registry card.

Below :mod:`governance.cards` (the card editor, which checks edits against the report templates and writes back
through the connectors), so the policy reads a card without importing the reports (import contract
``policy-never-imports-the-reports``).
"""

from __future__ import annotations

from typing import Any

from governance.catalog import Catalog


def effective_card(catalog: Catalog, model: str) -> dict[str, Any] | None:
    """The card the gates and reports read: Countersign's newest edit, else the synced registry card (None: none)."""
    edits = catalog.lifecycle_rows("card_edits", {"model": model})
    if edits:
        last = edits[-1]
        return {"content": dict(last["fields"]), "status": "countersign", "updated_at": last["edited_at"],
                "source": "countersign", "edit_id": last["edit_id"]}
    card = catalog.model_card(model)
    return {**card, "source": "registry"} if card else None
