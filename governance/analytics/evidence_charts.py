"""Altair chart builders for analytics results: pure functions of a result, no streamlit.

Each accepts the typed result or its stored dict (evidence rows hold dicts), so the Review page and the PDF
report (which renders the same Vega-Lite specs through vl-convert) draw identical charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from core.wording import D3_SIGNIFICANT as SIGNIFICANT
from core.wording import number
from governance.analytics import bias as bias_mod
from governance.analytics import drift as drift_mod
from governance.analytics import explain as explain_mod

WIDTH = 520
DRIFT_COLORS = alt.Scale(domain=["not drifted", "drifted"], range=["#4c78a8", "#e45756"])


def _drift(result: drift_mod.DriftResult | Mapping[str, Any]) -> drift_mod.DriftResult:
    return result if isinstance(result, drift_mod.DriftResult) else drift_mod.result_from_dict(result)


def _bias(result: bias_mod.BiasResult | Mapping[str, Any]) -> bias_mod.BiasResult:
    return result if isinstance(result, bias_mod.BiasResult) else bias_mod.result_from_dict(result)


def _explain(result: explain_mod.ExplainResult | Mapping[str, Any]) -> explain_mod.ExplainResult:
    return result if isinstance(result, explain_mod.ExplainResult) else explain_mod.result_from_dict(result)


def bin_labels(lower: Sequence[float], upper: Sequence[float]) -> list[str]:
    """Histogram bins as a person reads them: ``10,850–12,312``, never ``1.085e+04–…`` (issue 35, finding 12)."""
    return [f"{number(lo)}–{number(hi)}" for lo, hi in zip(lower, upper, strict=True)]


def step_label(name: str, value: Any) -> str:
    """A waterfall step: the feature and its value in the row (``income = 42,320``)."""
    return f"{name} = {number(value) if isinstance(value, int | float) else value}"


def _full(title: Any = None, **kw: Any) -> alt.Axis:
    """A category axis whose labels are never cut ("policy_tenure_ye…"): no length limit."""
    return alt.Axis(labelLimit=0, **kw) if title is None else alt.Axis(labelLimit=0, title=title, **kw)


def drift_chart(result: drift_mod.DriftResult | Mapping[str, Any]) -> alt.LayerChart:
    """Per column: score relative to its threshold (1 = at the threshold; p-value methods inverted), drifted in red."""
    r = _drift(result)
    rows = []
    for c in r.columns:
        spec = drift_mod.METHODS_BY_NAME[c.method]
        p = c.p_value_adjusted if c.p_value_adjusted is not None else c.score
        # p-values drift when small: show threshold / p so that "further right" always means "more drift"
        rel = (c.threshold / max(p, 1e-12)) if spec.p_value else (c.score / c.threshold if c.threshold else 0.0)
        rows.append({"column": c.column, "relative": min(rel, 10.0), "score": c.score, "method": c.method,
                     "threshold": c.threshold, "psi": c.psi, "verdict": "drifted" if c.drifted else "not drifted"})
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame).encode(y=alt.Y("column:N", sort="-x", title=None, axis=_full()))
    bars = base.mark_bar().encode(
        x=alt.X("relative:Q", title="drift against its threshold: 1 = at the threshold (dashed line), right of it = drifted; capped at 10"),
        # the legend in words ("drifted" / "not drifted"), not true/false (issue 35, finding 11)
        color=alt.Color("verdict:N", scale=DRIFT_COLORS, legend=alt.Legend(title="Column")),
        tooltip=["column", "method", alt.Tooltip("score:Q", format=SIGNIFICANT), "threshold", alt.Tooltip("psi:Q", format=".3f"),
                 "verdict"],
    )
    rule = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(strokeDash=[4, 3], color="black").encode(x="x:Q")
    return alt.layer(bars, rule).properties(
        width=WIDTH, title=f"Drift by column — {len(r.drifted_columns)} of {len(r.columns)} drifted "
                           f"(share {r.drift_share:.0%}, dataset threshold {r.drift_share_threshold:.0%})")


def column_chart(column: drift_mod.ColumnDrift | Mapping[str, Any]) -> alt.Chart:
    """Reference vs current distribution of one column (shares per bin or per value)."""
    c = column if isinstance(column, drift_mod.ColumnDrift) else drift_mod.ColumnDrift(**column)
    ch = c.chart
    if not ch:
        return alt.Chart(pd.DataFrame({"x": []})).mark_bar()
    if ch["type"] == "bins":
        labels = bin_labels(ch["lower"], ch["upper"])
        order = labels
    else:
        labels = list(ch["values"])
        order = labels
    frame = pd.DataFrame({
        "bin": labels * 2, "share": list(ch["reference"]) + list(ch["current"]),
        "side": ["reference"] * len(labels) + ["current"] * len(labels),
    })
    return alt.Chart(frame).mark_bar(opacity=0.8).encode(
        x=alt.X("bin:N", sort=order, title=None, axis=_full()), xOffset="side:N", y=alt.Y("share:Q", axis=alt.Axis(format="%")),
        color=alt.Color("side:N", scale=alt.Scale(domain=["reference", "current"], range=["#9ecae9", "#e45756"])),
        tooltip=["bin", "side", alt.Tooltip("share:Q", format=".2%")],
    ).properties(width=WIDTH, title=f"{c.column}: {c.method} {number(c.score)} (threshold {number(c.threshold)})")


def bias_chart(result: bias_mod.BiasResult | Mapping[str, Any], attribute: str) -> alt.LayerChart:
    """Selection rate per group with 95 % Wilson intervals and the four-fifths line (0.8 × the highest rate)."""
    a = _bias(result).attribute(attribute)
    rows = [{"group": g.group, "selection_rate": g.selection_rate, "n": g.n,
             "lo": g.selection_rate_ci[0] if g.selection_rate_ci else g.selection_rate,
             "hi": g.selection_rate_ci[1] if g.selection_rate_ci else g.selection_rate,
             "tpr": g.tpr, "fpr": g.fpr, "small": g.small} for g in a.groups]
    frame = pd.DataFrame(rows)
    line = 0.8 * max(g.selection_rate for g in a.groups)
    base = alt.Chart(frame).encode(y=alt.Y("group:N", title=None, axis=_full()))
    bars = base.mark_bar().encode(
        x=alt.X("selection_rate:Q", title="selection rate (predicted positive)", axis=alt.Axis(format="%")),
        color=alt.condition(alt.datum.selection_rate < line, alt.value("#e45756"), alt.value("#4c78a8")),
        tooltip=["group", "n", alt.Tooltip("selection_rate:Q", format=".3f"), alt.Tooltip("lo:Q", format=".3f"),
                 alt.Tooltip("hi:Q", format=".3f"), alt.Tooltip("tpr:Q", format=".3f"),
                 alt.Tooltip("fpr:Q", format=".3f"), "small"],
    )
    errors = base.mark_rule(color="black").encode(x="lo:Q", x2="hi:Q")
    rule = alt.Chart(pd.DataFrame({"x": [line]})).mark_rule(strokeDash=[4, 3], color="#e45756").encode(x="x:Q")
    ratio = "n/a" if a.demographic_parity_ratio is None else f"{a.demographic_parity_ratio:.2f}"
    verdict = "passes" if a.four_fifths_pass else "fails"
    # the whiskers and the dashed line say what they are under the title (finding 14: they had no legend)
    return alt.layer(bars, errors, rule).properties(width=WIDTH, title=alt.TitleParams(
        f"{attribute}: parity ratio {ratio} — {verdict} the four-fifths rule",
        subtitle=[f"Black whiskers: 95% interval of each rate (Wilson); dashed red line: four-fifths of the highest "
                  f"rate ({line:.0%}); a red bar is below it."]))


def importance_chart(result: explain_mod.ExplainResult | Mapping[str, Any], top: int = 15) -> alt.Chart:
    """Global importance: mean |SHAP| per feature, largest first."""
    r = _explain(result)
    frame = pd.DataFrame([{"feature": n, "mean_abs_shap": v} for n, v in r.importance[:top]])
    return alt.Chart(frame).mark_bar(color="#4c78a8").encode(
        x=alt.X("mean_abs_shap:Q", title=f"mean |SHAP| ({r.output})"),
        y=alt.Y("feature:N", sort="-x", title=None, axis=_full()),
        tooltip=["feature", alt.Tooltip("mean_abs_shap:Q", format=SIGNIFICANT)],
    ).properties(width=WIDTH, title=f"Global importance — {r.explainer}, {r.n_rows} rows")


def group_importance_chart(result: explain_mod.ExplainResult | Mapping[str, Any], attribute: str,
                           top: int = 10) -> alt.Chart:
    """Mean |SHAP| per feature within each group of a protected attribute."""
    r = _explain(result)
    features = [n for n, _ in r.importance[:top]]
    rows = [{"group": g, "feature": f, "mean_abs_shap": vals[f]}
            for g, vals in r.group_importance.get(attribute, {}).items() for f in features if f in vals]
    return alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        x=alt.X("mean_abs_shap:Q", title=f"mean |SHAP| ({r.output})"),
        y=alt.Y("feature:N", sort=features, title=None, axis=_full()), yOffset="group:N",
        color=alt.Color("group:N", title=attribute),
        tooltip=["group", "feature", alt.Tooltip("mean_abs_shap:Q", format=SIGNIFICANT)],
    ).properties(width=WIDTH, title=f"Importance by {attribute}")


def waterfall_chart(result: explain_mod.ExplainResult | Mapping[str, Any], row: int | None = None,
                    top: int = 12) -> alt.Chart:
    """One row's local explanation: from the base value, each feature's contribution, to the model output.

    ``row`` is one of the result's ``kept_rows`` (default: the configured row); another row raises
    :class:`core.errors.InputError`.
    """
    r = _explain(result)
    local = r.local_at(row)
    contrib = sorted(local["contributions"].items(), key=lambda kv: -abs(kv[1]))
    shown, rest = contrib[:top], contrib[top:]
    steps = [(step_label(name, local["values"][name]), value) for name, value in shown]
    if rest:
        steps.append((f"{len(rest)} other features", sum(v for _, v in rest)))
    rows, level = [], local["base_value"]
    rows.append({"step": "base value", "start": 0.0, "end": level, "kind": "total", "order": 0})
    for i, (label, value) in enumerate(steps, start=1):
        rows.append({"step": label, "start": level, "end": level + value, "kind": "up" if value >= 0 else "down",
                     "order": i})
        level += value
    rows.append({"step": "model output", "start": 0.0, "end": local["output"], "kind": "total",
                 "order": len(steps) + 1})
    frame = pd.DataFrame(rows)
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("step:N", sort=alt.EncodingSortField("order"), title=None, axis=_full()),
        x=alt.X("start:Q", title=f"model output ({r.output})"), x2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["up", "down", "total"],
                                                 range=["#e45756", "#4c78a8", "#bab0ac"]), legend=None),
        tooltip=["step", alt.Tooltip("start:Q", format=SIGNIFICANT), alt.Tooltip("end:Q", format=SIGNIFICANT)],
    ).properties(width=WIDTH, title=f"Local explanation of row {local['row']}")


def spec_of(name: str, *args: Any) -> dict[str, Any] | None:
    """The Vega-Lite dict of chart ``name`` of this module drawn from ``args``, or None when it cannot draw them
    (a stored result of a shape the chart does not know: the report then draws a plain fallback)."""
    fn = globals()[name]  # an unknown name is a programming error: let it surface
    try:
        chart = fn(*args)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if chart is None:
        return None
    # Schema validation costs ~70 ms a chart and the page already draws (and so validates) the same spec.
    return chart.to_dict(validate=False) if hasattr(chart, "to_dict") else dict(chart)


def bar_spec(
    points: list[dict[str, Any]], *, x: str, y: str, title: str, color: str | None = None, rule: float | None = None,
    x_title: str | None = None,
) -> dict[str, Any]:
    """A horizontal bar chart of ``points`` (one bar per ``y`` value), optionally coloured and with a threshold
    rule: the fallback a report draws from its own table."""
    frame = pd.DataFrame(points)
    enc: dict[str, Any] = {
        "x": alt.X(f"{x}:Q", title=x_title or x),
        "y": alt.Y(f"{y}:N", sort="-x", title=None, axis=_full()),
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    chart = alt.Chart(frame).mark_bar().encode(**enc)
    if rule is not None:
        chart = chart + alt.Chart(pd.DataFrame({"t": [rule]})).mark_rule(color="#b00", strokeDash=[4, 3]).encode(
            x="t:Q"
        )
    return chart.properties(title=title, width=420, height=max(60, 16 * frame[y].nunique())).to_dict(validate=False)
