"""Altair charts of comparisons (no streamlit here): training runs side by side."""

from __future__ import annotations

import altair as alt
import pandas as pd

from core.wording import D3_SIGNIFICANT as SIGNIFICANT
from governance.compare import RunsComparison

MIN_SPAN = 0.05  # the smallest difference drawn full height: 5% of the metric's value


def runs_frame(result: RunsComparison) -> pd.DataFrame:
    """Long table (version, environment, metric, value, scaled) with each metric scaled to 0–1 across versions
    (over at least :data:`MIN_SPAN` of its magnitude, so a tiny difference looks tiny)."""
    df = pd.DataFrame(result.metric_records(), columns=["version", "environment", "metric", "group", "value"])
    if df.empty:
        return df.assign(scaled=pd.Series(dtype=float))
    # one axis per metric: the run's own metric, else the metric registered with the version
    df = df.sort_values("group").drop_duplicates(["version", "metric"], keep="first")
    df["metric"] = df["metric"].str.removeprefix("validation:")
    df = df.drop_duplicates(["version", "metric"], keep="first")
    lo = df.groupby("metric")["value"].transform("min")
    hi = df.groupby("metric")["value"].transform("max")
    # an axis spans at least MIN_SPAN of the metric's magnitude, centred on the versions' values: 0.764 against 0.763
    # stays two nearly level points instead of being stretched into a swing from bottom to top
    floor = MIN_SPAN * pd.concat([lo.abs(), hi.abs()], axis=1).max(axis=1)
    span = pd.concat([hi - lo, floor], axis=1).max(axis=1)
    margin = (span - (hi - lo)) / 2  # zero when the versions differ by more than the floor
    df["scaled"] = ((df["value"] - lo + margin) / span.where(span > 0)).fillna(0.5)
    return df.reset_index(drop=True)


def runs_chart(result: RunsComparison) -> alt.Chart | None:
    """Parallel coordinates: one vertical axis per metric (scaled 0–1 across the versions), one line per version.
    None with fewer than two metrics: one axis draws no line, and the table says it all."""
    df = runs_frame(result)
    if df.empty or df["metric"].nunique() < 2:
        return None
    order = [s.version_id for s in result.sides]
    base = alt.Chart(df).encode(
        x=alt.X("metric:N", title=None, axis=alt.Axis(labelAngle=0, grid=True)),
        y=alt.Y("scaled:Q", title="per metric: lowest to highest (differences under 5% drawn to scale)", scale=alt.Scale(domain=[0, 1])),
        # the legend beside the plot: below it, a legend line per version took the plot's height
        color=alt.Color("version:N", sort=order, legend=alt.Legend(orient="right", labelLimit=0)),
        detail="version:N",
        tooltip=["version", "environment", "metric", alt.Tooltip("value:Q", format=SIGNIFICANT)],
    )
    return (base.mark_line(point=True, strokeWidth=2)).properties(height=260)
