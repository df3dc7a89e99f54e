"""Gates ``drift`` and ``weighted_drift``: the drift of the newest monitoring data against the reference, as a share
of drifted columns (with critical features that fail alone) and as the share of the model's attribution that
drifted. Both are monitoring gates: new data can breach them."""

from __future__ import annotations

from typing import Any

from governance.analytics.kinds.drift import NAME as KIND
from governance.analytics.kinds.drift import DriftSummary
from governance.gates.base import Gate, GateContext, GateResult, fresh

DRIFT = "drift"
WEIGHTED = "weighted_drift"


def critical_features(tier: Any, model_config: Any) -> tuple[str, ...]:
    """The columns whose drift alone fails the drift gate: the tier's and the model's ``critical_features``."""
    return tuple(dict.fromkeys((*tier.critical_features, *model_config.critical_features)))


def check_drift(ctx: GateContext) -> GateResult:
    """Share of drifted columns (current vs reference data) at or below the tier's limit, and no critical feature
    (``critical_features`` of the tier or the model) drifted at all."""
    ev, missing = fresh(ctx, DRIFT, KIND)
    if missing:
        return missing
    assert ev is not None
    summary = ev.summary
    share = summary.drift_share if isinstance(summary, DriftSummary) else None
    limit = ctx.tier.max_drift_share
    critical = critical_features(ctx.tier, ctx.model_config)
    threshold: Any = {"max_drift_share": limit, "critical_features": list(critical)} if critical else limit
    if share is None:
        return GateResult(DRIFT, "missing", "drift evidence has no drift_share", threshold, None, (ev,))
    cols = [str(c) for c in summary.drifted_columns]
    observed: Any = {"drift_share": share, "drifted_columns": cols} if critical else share
    detail = f" (drifted: {', '.join(cols)})" if cols else ""
    share_text = f"drift share {share:.2f}" + (f" of limit {limit:g}" if limit is not None else "")
    if summary.problems:  # a reference column gone, retyped or emptied: the data is not what was validated
        return GateResult(DRIFT, "fail", f"failing finding{'s' if len(summary.problems) > 1 else ''}: "
                          f"{'; '.join(summary.problems)}; {share_text}{detail}", threshold, observed, (ev,))
    hit = [c for c in critical if c in cols]
    if hit:
        return GateResult(DRIFT, "fail", f"critical feature{'s' if len(hit) > 1 else ''} drifted: "
                          f"{', '.join(hit)}; {share_text}{detail}", threshold, observed, (ev,))
    if limit is None or share <= limit:
        what = f"drift share {share:.2f}" + (f" ≤ {limit:g}" if limit is not None else "")
        if critical:
            what += f"; critical features stable: {', '.join(critical)}"
        return GateResult(DRIFT, "pass", what + detail, threshold, observed, (ev,))
    return GateResult(DRIFT, "fail", f"{len(cols)} columns drifted: drift share {share:.2f} > {limit:g}{detail}",
                      threshold, observed, (ev,))


def check_weighted(ctx: GateContext) -> GateResult:
    """The importance-weighted drift (the model's attribution carried by drifted features, a missing or retyped
    feature counted as drifted) at or below the tier's ``max_weighted_drift``."""
    ev, missing = fresh(ctx, WEIGHTED, KIND)
    if missing:
        return missing
    assert ev is not None
    summary = ev.summary
    limit = ctx.tier.max_weighted_drift
    weighted = summary.weighted_drift if isinstance(summary, DriftSummary) else None
    if weighted is None or not isinstance(summary, DriftSummary):
        return GateResult(WEIGHTED, "missing", f"drift evidence {ev.evidence_id} was computed before drift "
                          "was weighted by the model's importances: compute it again", limit, None, (ev,))
    source = summary.weights_source or "equal"
    observed = {"weighted_drift": weighted, "weights_source": source, "weights_ref": summary.weights_ref,
                "heaviest": [[c, w] for c, w in summary.heaviest]}
    how = summary.weights_note
    if limit is None or weighted <= limit:
        bound = f" ≤ {limit:g}" if limit is not None else ""
        return GateResult(WEIGHTED, "pass", f"weighted drift {weighted:.2f}{bound} ({how}): {summary.headline}",
                          limit, observed, (ev,))
    return GateResult(WEIGHTED, "fail", f"{summary.headline}: weighted drift {weighted:.2f} > {limit:g} ({how})",
                      limit, observed, (ev,))


def drift_findings(result: GateResult, summary: Any) -> tuple[list[str], float | None]:
    """A drift breach is about the drifted columns; its figure is the drift share."""
    observed = result.observed
    columns = [str(c) for c in getattr(summary, "drifted_columns", ()) or ()]
    return columns, observed.get("drift_share") if isinstance(observed, dict) else observed


def weighted_findings(result: GateResult, summary: Any) -> tuple[list[str], float | None]:
    """A weighted drift breach is about the drifted columns; its figure is the weighted drift."""
    observed = result.observed
    columns = [str(c) for c in getattr(summary, "drifted_columns", ()) or ()]
    return columns, observed.get("weighted_drift") if isinstance(observed, dict) else observed


DRIFT_GATE = Gate(
    DRIFT, lambda t: t.max_drift_share is not None or bool(t.critical_features), check_drift,
    "Share of drifted columns between reference and current data is at most max_drift_share, and no "
    "critical feature (critical_features of the tier or the model) drifted.", KIND, monitoring=True,
    applies_to_model=lambda m: bool(m.critical_features), findings=drift_findings,
    clears="re-validate on current data within the tier's drift limits, or record a risk acceptance",
)
WEIGHTED_GATE = Gate(
    WEIGHTED, lambda t: t.max_weighted_drift is not None, check_weighted,
    "Importance-weighted drift: the share of the model's attribution (mean |SHAP| of its explain evidence, else "
    "the registry's feature importances, else equal weights, said so) carried by drifted features is at most "
    "max_weighted_drift. A feature missing, retyped or empty in the current data counts as drifted.", KIND,
    label="importance-weighted drift", monitoring=True, findings=weighted_findings,
    clears="re-validate on current data so the features the model relies on no longer drift, or record a risk "
           "acceptance",
)
