"""Reach an account's source through its connector: the one place governance builds connectors."""

from __future__ import annotations

from pathlib import Path

from connectors import build_connector
from connectors.base import Connector
from core.errors import NotFound
from governance.catalog import Version
from governance.config import AccountConfig, Settings, Workspace


def connector_of(workspace: Workspace, account: AccountConfig) -> Connector:
    """The connector of the configured account ``account`` (its kind's settings, already validated)."""
    return build_connector(account.connector, account.settings, account.info, root=workspace.root,
                           cache_dir=workspace.cache_dir)


def connector_for(workspace: Workspace, settings: Settings, account: str) -> Connector:
    """The connector of the configured account named ``account``."""
    return connector_of(workspace, settings.account(account))


def version_file(workspace: Workspace, settings: Settings, version: Version, key: str) -> Path:
    """A local path of the version's dataset ``key`` (reference, validation, current …) or ``artifact``."""
    uri = version.artifact_uri if key == "artifact" else version.data_uris.get(key)
    if not uri:
        have = ", ".join(sorted(version.data_uris)) or "none"
        account = next((a for a in settings.accounts if a.name == version.account), None)
        hint = account.data_hint(key) if account is not None and key != "artifact" else None
        raise NotFound(f"version {version.version_id} has no {key!r} file (it has: {have})"
                       + (f". To give it one, {hint}, then run a full sync of {version.account} (Full pass on the "
                          f"Accounts page, or countersign sync --full --account {version.account})" if hint else ""))
    return connector_for(workspace, settings, version.account).fetch(uri)
