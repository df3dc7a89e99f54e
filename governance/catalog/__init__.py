"""The catalog: one DuckDB file, and the only package (with the ledger) that speaks SQL to the catalog tables.

- :mod:`~governance.catalog.connection`: opening the file, retries while another process holds it, ``keep_open``.
- :mod:`~governance.catalog.migrations`: numbered schema migrations.
- :mod:`~governance.catalog.apply`: sync writes (accounts, sync runs, one account's snapshot in one transaction).
- :mod:`~governance.catalog.queries`: reads (inventory, models, versions, lineage, deployments, sync status).
- :mod:`~governance.catalog.history`: registry history (states over time, observation gaps, the as-of query).
- :mod:`~governance.catalog.backfill`: history from backfills and registry events, and how far back it reaches.
- :mod:`~governance.catalog.signoff`: promotion requests and decisions.
- :mod:`~governance.catalog.evidence`: stored analytics evidence.
- :mod:`~governance.catalog.lifecycle`: fallback plans, incidents and model card edits (insert-only).
- :mod:`~governance.catalog.records`: the typed records rows are read into (by column name, never by position).
"""

from __future__ import annotations

from core.clock import utcnow
from core.ids import version_id_for
from governance.catalog.apply import SnapshotWriter
from governance.catalog.backfill import BackfillStore
from governance.catalog.costs import CompareQueries
from governance.catalog.evidence import EvidenceRecord, EvidenceStore
from governance.catalog.history import HistoryQueries
from governance.catalog.lifecycle import LifecycleStore
from governance.catalog.migrations import MIGRATIONS, CatalogMigrations
from governance.catalog.oversight import OversightStore
from governance.catalog.queries import CatalogQueries
from governance.catalog.records import (
    InventoryFilter,
    Model,
    SyncCounts,
    SyncMark,
    Version,
)
from governance.catalog.signoff import AcceptanceRow, Decision, Request, RequestState, SignoffQueries
from governance.config import Workspace

__all__ = [
    "MIGRATIONS",
    "AcceptanceRow",
    "Catalog",
    "Decision",
    "EvidenceRecord",
    "InventoryFilter",
    "Model",
    "Request",
    "RequestState",
    "SyncCounts",
    "SyncMark",
    "Version",
    "utcnow",
    "version_id_for",
]


class Catalog(CatalogQueries, HistoryQueries, SignoffQueries, OversightStore, CompareQueries, EvidenceStore,
              LifecycleStore, SnapshotWriter, BackfillStore, CatalogMigrations):
    """The workspace catalog file; every method opens and closes its own connection (see :mod:`.connection`)."""

    @classmethod
    def of(cls, workspace: Workspace, *, url: str | None = None) -> Catalog:
        """The catalog of ``workspace`` (on PostgreSQL when ``url`` names one), its commits signing that
        workspace's ledger head."""
        return cls(workspace.catalog_path, url=url, workspace=workspace)
