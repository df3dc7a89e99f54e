"""One model across its environments, as the Model page and ``countersign history`` show it: versions side by side,
history, metrics, one version's lineage, details, periodic reviews and consistency, and the model card."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import CountersignError, NotFound
from governance.context import Context
from governance.usecases.selection import Choice, Wanted, choose

if TYPE_CHECKING:
    import pandas as pd

    from governance.catalog import Model, Version
    from governance.compare import Consistency
    from governance.config import TierPolicy
    from governance.history import EnvironmentState
    from governance.oversight import DueItem, PeriodicReview


@dataclass(frozen=True)
class ModelQuery:
    """Which model and which of its versions; an instant and an environment for the as-of view."""

    model: Wanted = field(default_factory=Wanted)
    version: Wanted = field(default_factory=Wanted)
    as_of: dt.datetime | None = None
    as_of_env: str | None = None


@dataclass(frozen=True)
class VersionPanel:
    """One version of the model in full: lineage, details, periodic reviews, consistency across environments."""

    version: Version
    lineage: tuple[Version, ...]
    lineage_dot: str
    details: pd.DataFrame
    raw: dict[str, Any]
    reviews: tuple[PeriodicReview, ...]
    oversight: DueItem | None
    consistency: Consistency


@dataclass(frozen=True)
class ModelView:
    """The Model page."""

    choice: Choice  # the model picker
    environments: tuple[str, ...] = ()
    model: Model | None = None
    error: CountersignError | None = None  # the model could not be read
    tier_name: str = ""
    tier: TierPolicy | None = None
    versions: tuple[Version, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)  # version id → "3 (from staging v2)"
    served: dict[str, str] = field(default_factory=dict)  # version id → endpoint
    timeline: pd.DataFrame | None = None
    as_of: EnvironmentState | None = None
    version_choice: Choice | None = None
    version_scope: str = "in the catalog"  # where a linked version was looked for, for the warning
    panel: VersionPanel | None = None
    card: dict[str, Any] | None = None
    missing_card_fields: tuple[str, ...] = ()
    overseen: tuple[str, ...] = ()  # the environments periodic reviews watch

    @property
    def empty(self) -> bool:
        """Whether the catalog holds no model yet."""
        return not self.choice.options

    def in_environment(self, environment: str) -> list[Version]:
        """The model's versions in ``environment``, newest first."""
        return sorted((v for v in self.versions if v.environment == environment), key=lambda v: -v.version)

    def as_of_versions(self) -> list[Any]:
        """The model's versions in the as-of state."""
        if self.as_of is None or self.model is None:
            return []
        return [v for v in self.as_of.versions if v.model == self.model.name]


def open_model(ctx: Context, query: ModelQuery) -> ModelView:
    """The Model page's one call (a ``?version=`` link alone opens that version's model)."""
    catalog = ctx.catalog
    names = tuple(catalog.filter_values()["models"])
    owner = None
    if query.version.link:
        try:
            owner = catalog.version(query.version.link).model
        except NotFound:
            pass  # the Version picker names the unknown id
    choice = choose(names, query.model, fallback=owner)
    order = tuple(ctx.settings.environments.order)
    if choice.value is None:
        return ModelView(choice, order)
    try:
        model = catalog.model(choice.value)
    except CountersignError as exc:
        return ModelView(choice, order, error=exc)
    return _model_view(ctx, query, choice, model, owner is not None)


def _model_view(ctx: Context, query: ModelQuery, choice: Choice, model: Model, linked: bool) -> ModelView:
    from governance.history import environment_at, model_timeline, version_label
    from governance.oversight import oversight_environments
    from governance.policy import missing_card_fields, model_tier

    catalog, order = ctx.catalog, tuple(ctx.settings.environments.order)
    versions = tuple(catalog.versions_of(model.name))
    deployments = catalog.deployments(model.name)
    tier_name, tier = model_tier(catalog, ctx.settings, model.name)
    by_id = {v.version_id: v for v in versions}
    labels = {}
    for v in versions:
        src = by_id.get(v.source_version_id or "")
        labels[v.version_id] = version_label(v.version, (src.environment, src.version) if src else None)
    ids = [v.version_id for v in sorted(versions, key=lambda v: (order.index(v.environment) if v.environment in order
                                                                  else 99, -v.version))]
    version_choice = choose(ids, query.version, first=catalog.first_with_evidence(ids))
    as_of = None
    if query.as_of is not None:
        as_of = environment_at(ctx.settings, catalog, query.as_of_env or order[-1], query.as_of)
    card = catalog.model_card(model.name)
    return ModelView(
        choice, order, model, None, tier_name, tier, versions, labels,
        {r.version_id: r.endpoint for r in deployments.itertuples() if r.version_id}, model_timeline(catalog, model.name),
        as_of, version_choice, f"a version of {model.name}" if linked else "in the catalog",
        _panel(ctx, version_choice.value) if version_choice.value else None, card,
        tuple(missing_card_fields(tier, card)), tuple(oversight_environments(ctx.settings)))


def _panel(ctx: Context, version_id: str) -> VersionPanel:
    """The lineage section of one version."""
    from governance.catalog_charts import lineage_dot
    from governance.compare import environment_consistency
    from governance.history import version_details, version_json
    from governance.oversight import version_oversight

    catalog = ctx.catalog
    chain = tuple(catalog.lineage(version_id))
    selected = chain[0]
    run = catalog.run(chain[-1].run_id) if chain[-1].run_id else None
    reviews, item = version_oversight(ctx, selected.version_id)
    return VersionPanel(selected, chain, lineage_dot(catalog, version_id), version_details(selected, run),
                        version_json(selected, run), tuple(reviews), item,
                        environment_consistency(catalog, version_id, list(ctx.settings.environments.order)))


def version_history(ctx: Context, version_id: str) -> dict[str, Any]:
    """A version's registry history: states, deployments, approvals, gaps (``countersign history``)."""
    from governance.history import version_history as history

    return history(ctx.catalog, version_id)


def environment_history(ctx: Context, environment: str, instant: dt.datetime) -> EnvironmentState:
    """What ``environment`` held at ``instant``, who approved it, on what evidence (``countersign history
    --environment --as-of``, the Model page's as-of view)."""
    from governance.history import environment_at

    return environment_at(ctx.settings, ctx.catalog, environment, instant)
