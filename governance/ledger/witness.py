"""Which witness folder receives each workspace's signed head in this process ([ledger] witness).

Registered at the edge when a workspace is opened, read by every commit (:mod:`~governance.ledger.signed_head`).
Its own module so that opening a workspace loads none of the signing code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.config import Settings, Workspace

_witnesses: dict[str, Path] = {}


def use_witness(workspace: Workspace, directory: Path | None) -> None:
    """Mirror the signed head of ``workspace`` into ``directory`` on every commit of this process (None: stop).

    Called at the edge (CLI, portal) with ``[ledger] witness``; one witness folder serves one workspace.
    """
    key = str(workspace.catalog_path.resolve())
    if directory is None:
        _witnesses.pop(key, None)
    else:
        _witnesses[key] = Path(directory)


def use_settings(workspace: Workspace, settings: Settings) -> None:
    """Register ``[ledger] witness`` of ``settings`` (relative paths from the workspace folder) for this process."""
    if settings.ledger.witness:
        use_witness(workspace, workspace.root / Path(settings.ledger.witness).expanduser())


def witness_of(workspace: Workspace) -> Path | None:
    """The witness folder registered for ``workspace`` in this process, if any."""
    if not _witnesses:
        return None
    return _witnesses.get(str(workspace.catalog_path.resolve()))
