"""What a model version cost to train and to serve: an estimate from the registry's records and a price table.

- **Training**: the run's billable seconds × instance count × the training price of its instance type
  (SageMaker's ``BillableTimeInSeconds`` is per instance: AWS bills it times ``InstanceCount``). A run without
  billable time falls back to its wall-clock duration, and says so. A promoted copy is not trained again: its
  training is counted on the version it came from.
- **Serving**: every endpoint variant serving the version × its instance count × the hosting price × the hours it
  has been in service (from the endpoint's creation, else its last update, until ``as_of`` while in service, else
  until its last update).

Prices come from the shipped table ``governance/data/sagemaker-prices.toml`` (dated on-demand list prices of one
region, indicative) and ``[costs]`` in countersign.toml, which wins per instance type or replaces the table.
An instance type priced nowhere is listed as unpriced, never guessed. Every figure is an estimate: discounts,
Savings Plans, storage, data transfer and idle capacity outside these records are not counted.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.clock import naive_utc, utcnow
from core.errors import ConfigError
from governance.catalog import Catalog
from governance.config import CostsConfig

DEFAULT_PRICES = Path(__file__).resolve().parent / "data" / "sagemaker-prices.toml"
CAVEAT = ("Estimate: on-demand list prices × the time and instances the registry records. Discounts, Savings Plans, "
          "Spot, storage, data transfer and anything outside these records are not included.")


@dataclass(frozen=True)
class PriceTable:
    """Prices per instance-hour for training and hosting, and where they come from."""

    currency: str
    training: Mapping[str, float]
    hosting: Mapping[str, float]
    source: str
    as_of: str | None = None
    region: str | None = None

    def price(self, kind: Literal["training", "serving"], instance_type: str | None) -> float | None:
        """The price per instance-hour of ``instance_type`` for ``kind`` (None: not priced)."""
        if not instance_type:
            return None
        table = self.training if kind == "training" else self.hosting
        return table.get(instance_type)


def default_prices(path: Path = DEFAULT_PRICES) -> PriceTable:
    """The shipped price table."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: price table not readable ({exc})") from None
    meta = doc.get("meta") or {}
    return PriceTable(
        currency=str(meta.get("currency", "USD")), training=dict(doc.get("training") or {}),
        hosting=dict(doc.get("hosting") or {}),
        source=f"{meta.get('source', path.name)} (as of {meta.get('as_of', 'unknown date')})",
        as_of=meta.get("as_of"), region=meta.get("region"),
    )


def price_table(costs: CostsConfig, defaults: PriceTable | None = None) -> PriceTable:
    """The workspace's prices: ``[costs]`` over (or instead of) the shipped table."""
    if costs.replace_defaults:
        return PriceTable(costs.currency or "USD", dict(costs.training), dict(costs.hosting),
                          costs.source or "[costs] in countersign.toml")
    base = defaults or default_prices()
    if not (costs.training or costs.hosting or costs.currency or costs.source):
        return base
    if costs.currency and costs.currency != base.currency and not costs.replace_defaults:
        raise ConfigError(f"[costs] currency {costs.currency} differs from the shipped table's {base.currency}: "
                          "set replace_defaults = true and price every instance type you use")
    source = base.source if not (costs.training or costs.hosting) else (
        f"{costs.source or '[costs] in countersign.toml'}, else {base.source}")
    return PriceTable(base.currency, {**base.training, **costs.training}, {**base.hosting, **costs.hosting},
                      source, base.as_of, base.region)


@dataclass(frozen=True)
class CostLine:
    """One priced item: a training run or an endpoint variant."""

    kind: Literal["training", "serving"]
    version_id: str
    account: str
    what: str
    instance_type: str | None
    instance_count: int
    hours: float | None  # wall-clock hours (per instance)
    price_per_hour: float | None
    amount: float | None  # None: unpriced instance type or unknown time
    basis: str
    counted: bool = True  # False: shown for information, counted on another version

    @property
    def instance_hours(self) -> float | None:
        return None if self.hours is None else self.hours * self.instance_count


@dataclass(frozen=True)
class VersionCost:
    """The estimated cost of one version."""

    version_id: str
    model: str
    account: str
    environment: str
    lines: tuple[CostLine, ...]

    @property
    def training(self) -> float:
        return sum(ln.amount or 0.0 for ln in self.lines if ln.kind == "training" and ln.counted)

    @property
    def serving(self) -> float:
        return sum(ln.amount or 0.0 for ln in self.lines if ln.kind == "serving" and ln.counted)

    @property
    def total(self) -> float:
        return self.training + self.serving

    @property
    def complete(self) -> bool:
        """Every counted line could be priced."""
        return all(ln.amount is not None for ln in self.lines if ln.counted)

    @property
    def priced(self) -> bool:
        """At least one counted line could be priced (else the sums are no estimate, only zero)."""
        return any(ln.amount is not None for ln in self.lines if ln.counted)

    @property
    def gap(self) -> str | None:
        """Why the estimate is short, in a few words (None when every counted line is priced)."""
        if self.complete:
            return None
        missing = [ln for ln in self.lines if ln.counted and ln.amount is None]
        why = ("the registry records no instance type" if all(ln.instance_type is None for ln in missing)
               else "unpriced instance type or unknown time")
        return f"{'partly unpriced' if self.priced else 'not priced'}: {why}"


@dataclass(frozen=True)
class CostReport:
    """Estimated costs per version, summed per model and per account."""

    as_of: dt.datetime
    currency: str
    price_source: str
    versions: tuple[VersionCost, ...]
    unpriced: tuple[str, ...]
    caveat: str = CAVEAT
    by_model: dict[str, float] = field(default_factory=dict)
    by_account: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(v.total for v in self.versions)

    @property
    def priced(self) -> bool:
        """Some version could be priced: the sums estimate something (else every one is an unpriced zero)."""
        return any(v.priced for v in self.versions)

    def version(self, version_id: str) -> VersionCost | None:
        """The cost of one version of the report."""
        return next((v for v in self.versions if v.version_id == version_id), None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering (amounts rounded to the cent)."""
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {
            "as_of": self.as_of, "currency": self.currency, "price_source": self.price_source,
            "caveat": self.caveat, "total": r(self.total), "unpriced_instance_types": list(self.unpriced),
            "by_model": {k: r(v) for k, v in self.by_model.items()},
            "by_account": {k: r(v) for k, v in self.by_account.items()},
            "versions": [
                {"version_id": v.version_id, "model": v.model, "account": v.account, "environment": v.environment,
                 "training": r(v.training), "serving": r(v.serving), "total": r(v.total), "complete": v.complete,
                 "priced": v.priced, "gap": v.gap,
                 "lines": [{"kind": ln.kind, "what": ln.what, "instance_type": ln.instance_type,
                            "instance_count": ln.instance_count, "hours": None if ln.hours is None else round(ln.hours, 4),
                            "price_per_hour": ln.price_per_hour, "amount": r(ln.amount), "basis": ln.basis,
                            "counted": ln.counted} for ln in v.lines]}
                for v in self.versions
            ],
        }


def _load(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _time(value: Any) -> dt.datetime | None:
    if value is None or value != value:  # None, NaT
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return naive_utc(value) if isinstance(value, dt.datetime) else None


def _count(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return 1
    return max(n, 1)


def training_line(version_id: str, account: str, run: Mapping[str, Any], prices: PriceTable, *,
                  counted: bool = True, counted_on: str | None = None) -> CostLine:
    """The training cost of ``run`` (a catalog run row with its raw record)."""
    raw = _load(run.get("raw"))
    itype = raw.get("instance_type")
    count = _count(raw.get("instance_count"))
    seconds = raw.get("billable_seconds")
    if isinstance(seconds, int | float) and seconds >= 0:
        hours, basis = float(seconds) / 3600, "billable seconds"
    else:
        start, end = _time(run.get("started_at")), _time(run.get("ended_at"))
        hours = (end - start).total_seconds() / 3600 if start and end and end >= start else None
        basis = "wall-clock duration (no billable time recorded)" if hours is not None else "no duration recorded"
    price = prices.price("training", itype)
    amount = None if price is None or hours is None else hours * count * price
    if counted_on:
        basis = f"trained once: counted on {counted_on}"
    return CostLine("training", version_id, account, str(run.get("name") or run.get("run_id")), itype, count, hours,
                    price, amount, basis, counted)


def serving_line(deployment: Mapping[str, Any], prices: PriceTable, as_of: dt.datetime) -> CostLine:
    """The serving cost of one endpoint variant (a catalog deployments row with its raw record)."""
    raw = _load(deployment.get("raw"))
    itype = raw.get("instance_type")
    count = _count(raw.get("instance_count"))
    created, updated = _time(raw.get("created_at")), _time(deployment.get("updated_at"))
    start = created or updated
    in_service = deployment.get("status") == "InService"
    end = as_of if in_service else updated
    # a clock a little behind the endpoint's creation time counts nothing rather than failing
    hours = max((end - start).total_seconds(), 0.0) / 3600 if start and end else None
    since = "created" if created else "last updated"
    basis = (f"in service since {since} {start:%Y-%m-%d %H:%M}" if start and in_service
             else f"{deployment.get('status')}: from {since} to last update" if hours is not None
             else "no service time recorded")
    price = prices.price("serving", itype)
    amount = None if price is None or hours is None else hours * count * price
    what = f"{deployment.get('endpoint')}/{deployment.get('variant')}"
    return CostLine("serving", str(deployment.get("version_id")), str(deployment.get("account")), what, itype, count,
                    hours, price, amount, basis)


def estimate_costs(catalog: Catalog, prices: PriceTable, *, model: str | None = None,
                   as_of: dt.datetime | None = None) -> CostReport:
    """Estimated training and serving cost of every version (of ``model``), per version, model and account."""
    moment = naive_utc(as_of) if as_of else utcnow()
    versions, deployments = catalog.cost_rows(model)
    serving: dict[str, list[CostLine]] = {}
    for d in deployments:
        serving.setdefault(d["version_id"], []).append(serving_line(d, prices, moment))
    out: list[VersionCost] = []
    unpriced: set[str] = set()
    for v in versions:
        lines: list[CostLine] = []
        if isinstance(v.get("found_run"), str):
            copy = v.get("source_version_id")
            lines.append(training_line(v["version_id"], v["account"], v, prices, counted=not copy,
                                       counted_on=copy or None))
        lines.extend(serving.get(v["version_id"], []))
        for ln in lines:
            if ln.counted and ln.price_per_hour is None and ln.instance_type:
                unpriced.add(f"{ln.kind}:{ln.instance_type}")
        out.append(VersionCost(v["version_id"], v["model"], v["account"], v["environment"], tuple(lines)))
    by_model: dict[str, float] = {}
    by_account: dict[str, float] = {}
    for vc in out:
        by_model[vc.model] = by_model.get(vc.model, 0.0) + vc.total
        by_account[vc.account] = by_account.get(vc.account, 0.0) + vc.total
    return CostReport(moment, prices.currency, prices.source, tuple(out), tuple(sorted(unpriced)),
                      by_model=dict(sorted(by_model.items())), by_account=dict(sorted(by_account.items())))
