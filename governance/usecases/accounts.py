"""The configured accounts and their syncs, as the Accounts page and ``countersign sync`` see and run them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.progress import ProgressFn, no_progress
from governance.context import Context

if TYPE_CHECKING:
    import pandas as pd

    from governance.sync import SyncReport


@dataclass(frozen=True)
class AccountsView:
    """The Accounts page: the accounts, whether this person may sync, each account's last sync, recent runs."""

    accounts: tuple[str, ...]
    can_sync: bool
    roles: tuple[str, ...]
    status: pd.DataFrame | None = None
    runs: pd.DataFrame | None = None


@dataclass(frozen=True)
class SyncCommand:
    """Sync these accounts (all when empty); ``full`` ignores watermarks and notices deletions."""

    accounts: tuple[str, ...] = ()
    full: bool = False


def open_accounts(ctx: Context) -> AccountsView:
    """The Accounts page's one call (the status table names every environment an account holds: its own, and those
    its registry labels mean)."""
    settings = ctx.settings
    names = tuple(a.name for a in settings.accounts)
    base = (names, ctx.identity.can("sync"), tuple(sorted(ctx.identity.roles)))
    if not names:
        return AccountsView(*base)
    status = ctx.catalog.sync_status()
    held = {a.name: ", ".join(e for e in settings.environments.order if e in a.environments) for a in settings.accounts}
    status["environment"] = [held.get(name, env) for name, env in zip(status["account"], status["environment"],
                                                                       strict=True)]
    return AccountsView(*base, status=status, runs=ctx.catalog.sync_runs(limit=30))


def sync(ctx: Context, command: SyncCommand, progress: ProgressFn = no_progress) -> SyncReport:
    """Sync as ``ctx``'s identity (Sync now, ``countersign sync``); one account's failure leaves the others intact."""
    from governance.sync import sync as run

    return run(ctx, accounts=list(command.accounts) or None, full=command.full, progress=progress)

