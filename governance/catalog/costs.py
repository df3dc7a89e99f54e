"""Rows the comparison and cost estimates read: a version's model card, versions with their training runs, and the
deployments serving them (:mod:`governance.compare`, :mod:`governance.costs` decide what they mean)."""

from __future__ import annotations

from typing import Any

from governance.catalog.connection import CatalogConnection
from governance.catalog.records import fetch_dict, fetch_dicts, from_json


class CompareQueries(CatalogConnection):
    """Reads for environment consistency and cost estimates."""

    def card_row(self, version_id: str, model: str, account: str) -> dict[str, Any] | None:
        """The model card synced for the version, else the newest card of its model in its account."""
        with self.connect() as con:
            row = fetch_dict(
                con,
                "SELECT card_id, status, content FROM model_cards WHERE version_id = ? OR (model = ? AND account = ?) "
                "ORDER BY version_id = ? DESC, updated_at DESC NULLS LAST, card_id LIMIT 1",
                [version_id, model, account, version_id],
            )
        if row is None:
            return None
        content = from_json(row["content"]) or {}
        return {**row, "content": content if isinstance(content, dict) else {}}

    def cost_rows(self, model: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Versions (of ``model``) with their training run, and the deployments serving them, as rows by name."""
        where, params = ("WHERE v.model = ?", [model]) if model else ("", [])
        with self.connect() as con:
            versions = fetch_dicts(
                con,
                "SELECT v.version_id, v.model, v.account, v.environment, v.source_version_id, v.run_id, "
                "r.name, r.started_at, r.ended_at, r.raw, r.run_id AS found_run FROM versions v "
                f"LEFT JOIN runs r ON r.run_id = v.run_id {where} ORDER BY v.model, v.version_id", params,
            )
            deployments = fetch_dicts(
                con,
                "SELECT d.deployment_id, d.account, d.endpoint, d.variant, d.status, d.version_id, d.updated_at, d.raw "
                f"FROM deployments d JOIN versions v ON v.version_id = d.version_id {where} ORDER BY d.deployment_id",
                params,
            )
        return versions, deployments
