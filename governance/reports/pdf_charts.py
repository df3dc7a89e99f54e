"""Charts for the PDF: the same altair specs the pages show, rendered to PNG with vl-convert.

The analytics package owns the chart specs (``governance.analytics.evidence_charts``); when it cannot draw a stored result,
a plain fallback spec from the report's own table is drawn instead.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

PNG_SCALE = 2.0


def render_png(spec: dict[str, Any]) -> bytes:
    """PNG bytes of a Vega-Lite spec (deterministic for the same spec)."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(spec, scale=PNG_SCALE)


def analytics_chart(name: str, *args: Any) -> dict[str, Any] | None:
    """The Vega-Lite dict of ``governance.analytics.evidence_charts.<name>(*args)``, or None when it cannot draw them."""
    from governance.analytics import evidence_charts

    fn = getattr(evidence_charts, name)  # an unknown name is a programming error: let it surface
    try:
        chart = fn(*args)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None  # a result shape the chart does not know: the fallback draws the table instead
    if chart is None:
        return None
    # Schema validation costs ~70 ms a chart and the page already draws (and so validates) the same spec.
    return chart.to_dict(validate=False) if hasattr(chart, "to_dict") else dict(chart)


def bar_spec(
    frame: pd.DataFrame, *, x: str, y: str, title: str, color: str | None = None, rule: float | None = None,
    x_title: str | None = None,
) -> dict[str, Any]:
    """A horizontal bar chart (one bar per ``y`` value), optionally coloured and with a threshold rule."""
    import altair as alt

    base = alt.Chart(frame)
    enc: dict[str, Any] = {
        "x": alt.X(f"{x}:Q", title=x_title or x),
        "y": alt.Y(f"{y}:N", sort="-x", title=None),
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    chart = base.mark_bar().encode(**enc)
    if rule is not None:
        chart = chart + alt.Chart(pd.DataFrame({"t": [rule]})).mark_rule(color="#b00", strokeDash=[4, 3]).encode(
            x="t:Q"
        )
    return chart.properties(title=title, width=420, height=max(60, 16 * frame[y].nunique())).to_dict(validate=False)
