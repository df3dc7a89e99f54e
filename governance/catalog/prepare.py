"""Making a workspace's catalog ready when the workspace is opened (its own module: opening a workspace to read it
loads nothing of the sync)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.catalog import Catalog
    from governance.config import Settings


def prepare_catalog(catalog: Catalog, settings: Settings) -> Catalog:
    """Make a workspace's catalog ready for use: apply its migrations and register the configured accounts.

    The portal and the CLI call this when they open a workspace, so reading a page never writes; a change to
    ``[[accounts]]`` reaches the catalog the next time the workspace is opened (or synced).
    """
    catalog.migrate()
    catalog.record_accounts(settings.accounts)
    return catalog
