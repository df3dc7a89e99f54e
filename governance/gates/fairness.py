"""Gate ``fairness``: disparate impact (the demographic parity ratio) of every protected attribute at or above the
tier's ``min_disparate_impact``. A monitoring gate: bias evidence recomputed on new data can breach it."""

from __future__ import annotations

from typing import Any

from governance.analytics.kinds.bias import NAME as KIND
from governance.analytics.kinds.bias import BiasSummary
from governance.gates.base import Gate, GateContext, GateResult, fresh

NAME = "fairness"
# Where the 0.8 default of the fairness gate comes from, said wherever the rule is named.
FOUR_FIFTHS_NOTE = ("The four-fifths rule (selection-rate ratio of at least 0.8) is a rule of thumb for adverse impact "
                    "from US employment guidance (the EEOC Uniform Guidelines on Employee Selection Procedures), not a "
                    "universal legal test.")
LABEL = "four-fifths rule of thumb (US EEOC Uniform Guidelines)"


def fairness_label(tier: Any) -> str:
    """How the fairness gate names its threshold under ``tier``: the tier's ``fairness_label``, else the gate's."""
    if tier.fairness_label:
        return tier.fairness_label
    if tier.min_disparate_impact is not None and tier.min_disparate_impact != 0.8:
        return "the tier's own threshold"  # not four fifths: do not borrow that rule's name
    return GATE.label


def check(ctx: GateContext) -> GateResult:
    """Disparate impact (demographic parity ratio) per protected attribute at or above the tier's minimum."""
    ev, missing = fresh(ctx, NAME, KIND)
    if missing:
        return missing
    assert ev is not None
    limit = ctx.tier.min_disparate_impact
    ratios = ev.summary.ratios if isinstance(ev.summary, BiasSummary) else {}
    wanted = ctx.model_config.protected_attributes or tuple(ratios)
    uncovered = [a for a in wanted if ratios.get(a) is None]
    low = {a: r for a, r in ratios.items() if r is not None and r < limit}
    label = fairness_label(ctx.tier)
    if low:
        text = ", ".join(f"{a} {r:.2f}" for a, r in sorted(low.items()))
        return GateResult(NAME, "fail", f"disparate impact below {limit:g} ({label}): {text}", limit, ratios, (ev,))
    if uncovered or not wanted:
        what = ", ".join(uncovered) if uncovered else "any protected attribute"
        return GateResult(NAME, "missing", f"bias evidence does not cover {what}", limit, ratios, (ev,))
    text = ", ".join(f"{a} {ratios[a]:.2f}" for a in wanted)
    return GateResult(NAME, "pass", f"disparate impact ≥ {limit:g} ({label}): {text}", limit, ratios, (ev,))


def findings(result: GateResult, summary: Any) -> tuple[list[str], float | None]:
    """A fairness breach is about the attributes below the threshold; its figure is the lowest ratio."""
    observed = result.observed
    if not isinstance(observed, dict):
        return [], None
    low = {a: r for a, r in observed.items() if r is not None and result.threshold is not None and r < result.threshold}
    return sorted(low), (min(low.values()) if low else None)


GATE = Gate(
    NAME, lambda t: t.min_disparate_impact is not None, check,
    "Demographic parity ratio (selection-rate ratio) of every protected attribute is at least "
    f"min_disparate_impact. {FOUR_FIFTHS_NOTE} Set min_disparate_impact and fairness_label per tier for your "
    "jurisdiction and use.", KIND, label=LABEL, monitoring=True, findings=findings,
    clears="retrain or re-threshold until every protected group's selection-rate ratio meets the tier, or record "
           "a risk acceptance",
)
