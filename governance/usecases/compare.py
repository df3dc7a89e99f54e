"""Versions side by side and what they cost, as the Compare page and the CLI (``diff``, ``runs compare``,
``costs``) show them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import CountersignError
from governance.context import Context

if TYPE_CHECKING:
    from governance.compare import Consistency, RunsComparison
    from governance.costs import CostReport


@dataclass(frozen=True)
class CompareQuery:
    """The versions picked (None: the page has not drawn its picker yet) and the version selected elsewhere."""

    versions: tuple[str, ...] | None = None
    selected: str | None = None


@dataclass(frozen=True)
class CompareView:
    """The Compare page: the versions to pick from, the picks, their runs side by side and the cost estimate."""

    ids: tuple[str, ...]
    picked: tuple[str, ...]
    runs: RunsComparison | None = None
    runs_error: CountersignError | None = None
    costs: CostReport | None = None
    costs_error: CountersignError | None = None

    @property
    def empty(self) -> bool:
        """Whether the catalog holds no version yet."""
        return not self.ids


def open_compare(ctx: Context, query: CompareQuery) -> CompareView:
    """The Compare page's one call; before anything is picked it opens on the lineage of the version selected
    elsewhere (dev → staging → prod), else on the first two versions."""
    from governance.compare import compare_runs

    order = list(ctx.settings.environments.order)
    ids = tuple(r["version_id"] for r in ctx.catalog.inventory_rows(environment_order=order))
    if not ids:
        return CompareView(ids, ())
    picked = query.versions if query.versions is not None else _opening(ctx, ids, query.selected)
    runs, runs_error = None, None
    if len(picked) >= 2:
        try:
            runs = compare_runs(ctx.catalog, list(picked))
        except CountersignError as exc:
            runs_error = exc
    try:
        costs, costs_error = estimate(ctx), None
    except CountersignError as exc:
        costs, costs_error = None, exc
    return CompareView(ids, picked, runs, runs_error, costs, costs_error)


def _opening(ctx: Context, ids: tuple[str, ...], selected: str | None) -> tuple[str, ...]:
    from governance.compare import lineage_family

    try:
        family = [v.version_id for v in lineage_family(ctx.catalog, selected, list(ctx.settings.environments.order))] \
            if selected in ids else []
    except CountersignError:
        family = []
    return tuple(family) if len(family) > 1 else ids[:2]


def estimate(ctx: Context, *, model: str | None = None, as_of: dt.datetime | None = None) -> CostReport:
    """Estimated training and serving cost per version, model and account (``countersign costs``)."""
    from governance.costs import estimate_costs, price_table

    if model:
        ctx.catalog.model(model)  # an unknown model is an error naming the known ones
    return estimate_costs(ctx.catalog, price_table(ctx.settings.costs), model=model, as_of=as_of)


def diff(ctx: Context, first: str, second: str) -> Consistency:
    """Two versions' environments side by side (``countersign diff``)."""
    from governance.compare import diff_versions

    return diff_versions(ctx.catalog, first, second)


def runs(ctx: Context, versions: Sequence[str]) -> RunsComparison:
    """The training runs of versions side by side (``countersign runs compare``)."""
    from governance.compare import compare_runs

    return compare_runs(ctx.catalog, list(versions))
