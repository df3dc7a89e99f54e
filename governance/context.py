"""The one request/command context: which workspace, its settings and catalog, and who acts.

The CLI opens one per command (:func:`countersign_cli.cliutil.open_workspace`), the portal one per session
(``portal.context``); the use cases (``governance.usecases``) and the services under them take a :class:`Context`
whole instead of four loose arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Only the standard library at module level: the CLI imports this before any command runs (see cliutil).
if TYPE_CHECKING:
    from governance.catalog import Catalog
    from governance.config import Settings, Workspace
    from governance.identity import Identity


@dataclass(frozen=True)
class Context:
    """Who acts where: the workspace, its validated settings, its catalog and the acting identity."""

    workspace: Workspace
    settings: Settings
    catalog: Catalog
    identity: Identity

    @property
    def actor(self) -> Identity:
        """The acting identity (the name the sign-off and ledger functions give it)."""
        return self.identity

    @property
    def is_demo(self) -> bool:
        """Whether this is the demo workspace (personas may be switched there)."""
        return self.settings.workspace.demo

    def acting_as(self, identity: Identity) -> Context:
        """The same workspace, settings and catalog, with another acting identity."""
        return dataclasses.replace(self, identity=identity)
