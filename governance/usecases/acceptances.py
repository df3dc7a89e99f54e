"""The register of risk acceptances, as the Risk acceptances page and ``countersign acceptances`` show it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from governance.context import Context

if TYPE_CHECKING:
    from governance.signoff import AcceptanceEntry


@dataclass(frozen=True)
class AcceptancesView:
    """Every risk acceptance, soonest expiry first, and how many are in force, expiring soon or expired."""

    entries: tuple[AcceptanceEntry, ...]
    soon_days: int

    def in_state(self, state: str) -> tuple[AcceptanceEntry, ...]:
        """The acceptances ``expired``, ``expiring soon`` or ``in force``."""
        return tuple(a for a in self.entries if a.state == state)


def open_acceptances(ctx: Context, *, now: dt.datetime | None = None) -> AcceptancesView:
    """The register as of ``now`` (the page, and ``countersign acceptances``)."""
    from governance.signoff import ACCEPTANCE_SOON, acceptance_register

    return AcceptancesView(acceptance_register(ctx.catalog, now=now), ACCEPTANCE_SOON.days)
