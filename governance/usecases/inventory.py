"""Every model and version across accounts, as the Inventory page and ``countersign models`` list them, with the
binding check's flags (a version serving unapproved, or not what was approved) either way.

:func:`list_models` is the CLI's: plain rows, no pandas (a script's ``countersign models --json`` starts fast);
:func:`open_inventory` is the page's: frames for the table, the metrics and the flags.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.structs import Row, field
from governance.context import Context

if TYPE_CHECKING:
    import pandas as pd

    from governance.binding import DeploymentFlag
    from governance.history import CoverageNote

from governance.catalog.records import InventoryFilter  # the filter the page builds from its widgets


class InventoryQuery(Row):
    """The page's filters, the instant of an as-of view, and whether to list only flagged deployments."""

    filter: InventoryFilter = field(default_factory=InventoryFilter)
    as_of: dt.datetime | None = None
    only_flagged: bool = False


class InventoryView(Row):
    """The Inventory page: the filters' values, the rows, the flagged deployments, freshness per account."""

    values: dict[str, list[str]]  # distinct values of each filter
    environments: tuple[str, ...]  # the environments present, in promotion order
    rows: pd.DataFrame | None = None  # every row matching the filters
    flagged: pd.DataFrame | None = None
    gaps: tuple[str, ...] = ()  # accounts not observed at the as-of instant, with why
    coverage: tuple[str, ...] = ()  # accounts whose history begins after the as-of instant, with how to reach back
    as_of: dt.datetime | None = None
    only_flagged: bool = False
    sync_status: pd.DataFrame | None = None

    @property
    def empty(self) -> bool:
        """Whether the catalog holds no model yet."""
        return not self.values["models"]

    @property
    def shown(self) -> pd.DataFrame:
        """The rows the table lists (only the flagged ones when asked)."""
        assert self.rows is not None and self.flagged is not None
        return self.flagged if self.only_flagged and not self.flagged.empty else self.rows


def open_inventory(ctx: Context, query: InventoryQuery) -> InventoryView:
    """The Inventory page's one call: today's inventory, or as it stood at ``query.as_of`` from the history."""
    from governance.history import coverage_at, inventory_at

    values = ctx.catalog.filter_values()
    order = list(ctx.settings.environments.order)
    present = values["environments"]
    envs = tuple([e for e in order if e in present] + [e for e in present if e not in order])
    if not values["models"]:
        return InventoryView(values, envs)
    df = _governing_tiers(ctx, inventory_at(ctx, query.filter, query.as_of))
    gaps: tuple[str, ...] = ()
    coverage: tuple[str, ...] = ()
    if query.as_of is not None:
        gaps = tuple(sorted({f"{r.account} ({r.gap_reason})" for r in df.itertuples() if r.in_gap}))
        coverage = tuple(n.message for n in coverage_at(ctx.settings, ctx.catalog, query.as_of,
                                                        query.filter.environments or None))
    return InventoryView(values, envs, df, df[df["flagged"]], gaps, coverage, query.as_of, query.only_flagged,
                         ctx.catalog.sync_status())


def _governing_tiers(ctx: Context, df: Any) -> Any:
    """``df`` with the tier that governs each model (as the Model page and the gates say: the configuration's, else
    the registry's, else the default, marked so) in place of the registry's raw field, which was empty ("None")."""
    settings = ctx.settings
    tiers = settings.policy.tiers

    def governing(model: str, recorded: Any) -> str:
        configured = settings.models[model].risk_tier if model in settings.models else None
        name = configured or (recorded if isinstance(recorded, str) else None)
        return name if name in tiers else f"{settings.policy.default_tier} (default)"

    if df.empty:
        return df
    return df.assign(risk_tier=[governing(m, t) for m, t in zip(df["model"], df["risk_tier"], strict=True)])


class ModelsListing(Row):
    """``countersign models``: the versions (plain rows) with their binding-check flags, the models, the gaps."""

    rows: list[dict[str, Any]]
    flags: list[DeploymentFlag]
    models: list[dict[str, Any]]
    as_of: dt.datetime | None = None
    gaps: tuple[str, ...] = ()  # accounts not observed then, and versions whose state then is unknown
    coverage: tuple[CoverageNote, ...] = ()  # accounts whose history starts later


def list_models(ctx: Context, *, environments: Sequence[str] = (), as_of: dt.datetime | None = None) -> ModelsListing:
    """The versions of ``environments`` (all when empty), today or as of an instant, flagged as the Inventory page
    flags them; today's listing reads plain rows, without pandas."""
    from governance.binding import row_flags
    from governance.catalog import InventoryFilter

    order = ctx.settings.environments.order
    if as_of is not None:
        from governance.history import inventory_as_of

        listed = inventory_as_of(ctx.catalog, as_of, order)
        if environments and not listed.empty:
            listed = listed[listed["environment"].isin(list(environments))].reset_index(drop=True)
        # pandas marks what is missing as NaN/NaT (unequal to itself): None, as the current listing's rows say it
        rows = [{k: None if not isinstance(v, list | str) and v != v else v for k, v in r.items()}
                for r in listed.to_dict("records")]
    else:
        rows = ctx.catalog.inventory_rows(InventoryFilter(environments=tuple(environments)), environment_order=order)
    flags = row_flags(ctx.settings, ctx.catalog, rows, as_of)  # the same check as the Inventory page
    if as_of is None:
        return ModelsListing(rows, flags, ctx.catalog.models_rows())
    from governance.history import coverage_at, version_gaps_at

    # accounts whose history starts later, and versions whose state then is unknown: said, not left out
    gaps = sorted({f"{r['account']}: {r['gap_reason']}" for r in rows if r["in_gap"]})
    gaps += version_gaps_at(ctx.catalog, as_of)
    coverage = coverage_at(ctx.settings, ctx.catalog, as_of, list(environments) or None)
    return ModelsListing(rows, flags, ctx.catalog.models_rows(), as_of, tuple(gaps), tuple(coverage))
