"""The settings of a ``connector = "folder"`` account (light: reading ``countersign.toml`` does not import the
connector, :mod:`connectors.folder`, which re-exports it)."""

from __future__ import annotations

from typing import Annotated

from connectors.settings import ConnectorSettings
from core.structs import Meta


class FolderSettings(ConnectorSettings):
    """``[[accounts]] connector = "folder"``: where the registry folder is."""

    # the registry folder; a relative path resolves against the workspace folder
    path: Annotated[str, Meta(min_length=1)]

    def location(self) -> str | None:
        return self.path

    def data_hint(self, key: str) -> str | None:
        return f"put the data in the version's folder as {key}.parquet"
