"""Reach a version's files through the connector of the account that holds it."""

from __future__ import annotations

from pathlib import Path

from connectors import build_connector
from connectors.base import Connector
from governance.catalog import Version
from governance.config import Settings, Workspace
from governance.errors import NotFound


def connector_for(workspace: Workspace, settings: Settings, account: str) -> Connector:
    """The connector of the configured account ``account``."""
    return build_connector(settings.account(account), root=workspace.root, cache_dir=workspace.cache_dir)


def version_file(workspace: Workspace, settings: Settings, version: Version, key: str) -> Path:
    """A local path of the version's dataset ``key`` (reference, validation, current …) or ``artifact``."""
    uri = version.artifact_uri if key == "artifact" else version.data_uris.get(key)
    if not uri:
        have = ", ".join(sorted(version.data_uris)) or "none"
        raise NotFound(f"version {version.version_id} has no {key!r} file (it has: {have})")
    return connector_for(workspace, settings, version.account).fetch(uri)
