"""Gate ``explainability``: a SHAP explanation of the version is on record. It applies only where a tier's ``gates``
list names it."""

from __future__ import annotations

from governance.analytics.kinds.explain import NAME as KIND
from governance.analytics.kinds.explain import ExplainSummary
from governance.gates.base import Gate, GateContext, GateResult, fresh

NAME = "explainability"


def check(ctx: GateContext) -> GateResult:
    """An explanation (global SHAP importance) exists for the version."""
    ev, missing = fresh(ctx, NAME, KIND)
    if missing:
        return missing
    assert ev is not None
    top = ev.summary.top_names if isinstance(ev.summary, ExplainSummary) else []
    return GateResult(NAME, "pass", "explanation on record" + (f" (top: {', '.join(map(str, top[:3]))})"
                      if top else ""), None, top[:3], (ev,))


GATE = Gate(NAME, lambda t: False, check,
            "A SHAP explanation is on record. Applies only where a tier's gates list names it.", KIND,
            clears="compute a SHAP explanation on the Review page or with 'countersign review'")
