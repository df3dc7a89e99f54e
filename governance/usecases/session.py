"""Opening a workspace, and the frame every page is drawn in: the edge's calls before any screen.

:func:`open_workspace` is what the CLI (per command) and the portal (per process) do to a workspace before anyone
acts in it: validate ``countersign.toml`` once, open its catalog (migrations, configured accounts) and register the
ledger's witness. :func:`open_shell` is what ``app.py`` draws around every page: whether the ledger vouches for the
catalog (the red banner) and how many requests wait for this person's approval.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from core.structs import Row
from governance.context import Context

if TYPE_CHECKING:
    from governance.catalog import Catalog
    from governance.config import Settings, Workspace


class Opened(Row):
    """A workspace ready for use: its validated settings and its catalog."""

    workspace: Workspace
    settings: Settings
    catalog: Catalog


def open_workspace(workspace: Workspace, *, migrate: bool = True, hold: ExitStack | None = None) -> Opened:
    """Read and validate the workspace's configuration, open its catalog (``migrate``: apply migrations and register
    the configured accounts, so reading a page never writes) and register ``[ledger] witness`` for this process.
    ``hold``: keep the catalog file open until that scope ends (a CLI command's operations come as one burst)."""
    from governance import ledger
    from governance.catalog import Catalog
    from governance.config import load_settings, share_process

    share_process(workspace)
    settings = load_settings(workspace)
    catalog = Catalog.of(workspace, url=settings.catalog.url)
    if hold is not None:
        hold.enter_context(catalog.keep_open())
    if migrate:
        from governance.catalog.prepare import prepare_catalog

        prepare_catalog(catalog, settings)
    ledger.use_settings(workspace, settings)  # every commit of this process mirrors the signed head there too
    return Opened(workspace, settings, catalog)


class ShellView(Row):
    """What surrounds every page: the ledger's state and the requests awaiting this person's approval."""

    ledger_ok: bool
    ledger_message: str
    awaiting: int


def open_shell(ctx: Context) -> ShellView:
    """The frame of a page run: does the ledger vouch for the catalog, and how many requests may this person
    approve now (four eyes)."""
    from governance import ledger
    from governance.signoff import awaiting_approval

    state = ledger.catalog_tail_state(ctx.workspace, ctx.catalog)
    return ShellView(state.ok, state.message, len(awaiting_approval(ctx)))


def persona_labels(settings: Settings) -> dict[str, str]:
    """The demo's personas a visitor may act as (e-mail → "Rita Okafor (risk officer)"); command-line users are not
    personas."""
    from governance.personas import PERSONAS

    emails = [e for e in settings.roles if not e.lower().startswith("os:")]
    return {e: PERSONAS.get(e, (e, ""))[0] for e in emails}
