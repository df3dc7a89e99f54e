"""Gate ``metrics``: the version's registered metrics against the tier's ``min_metrics`` / ``max_metrics``."""

from __future__ import annotations

import math

from governance.gates.base import Gate, GateContext, GateResult

NAME = "metrics"


def check(ctx: GateContext) -> GateResult:
    """Registered metrics of the version against the tier's minimum and maximum values."""
    metrics = ctx.version.metrics
    fails, missing, observed = [], [], {}
    for name, bound in ctx.tier.min_metrics.items():
        value = metrics.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            missing.append(name)
            continue
        observed[name] = value
        if value < bound:
            fails.append(f"{name} {value:.4g} < {bound:g}")
    for name, bound in ctx.tier.max_metrics.items():
        value = metrics.get(name)
        if value is None:
            missing.append(name)
            continue
        observed[name] = value
        if value > bound:
            fails.append(f"{name} {value:.4g} > {bound:g}")
    threshold = {"min": dict(ctx.tier.min_metrics), "max": dict(ctx.tier.max_metrics)}
    if fails:
        return GateResult(NAME, "fail", "; ".join(fails), threshold, observed)
    if missing:
        return GateResult(NAME, "missing", f"the version does not report {', '.join(missing)}", threshold, observed)
    return GateResult(NAME, "pass", ", ".join(f"{k} {v:.4g}" for k, v in observed.items()), threshold, observed)


GATE = Gate(NAME, lambda t: bool(t.min_metrics or t.max_metrics), check,
            "Registered validation metrics meet the tier's min_metrics / max_metrics.",
            clears="register a version whose validation metrics meet the tier's bounds, or record a risk acceptance")
