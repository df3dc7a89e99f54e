"""Altair charts of comparisons (no streamlit here): training runs side by side."""

from __future__ import annotations

import altair as alt
import pandas as pd

from governance.compare import RunsComparison


def runs_frame(result: RunsComparison) -> pd.DataFrame:
    """Long table (version, environment, metric, value, scaled) with each metric scaled to 0–1 across versions."""
    df = pd.DataFrame(result.metric_records(), columns=["version", "environment", "metric", "group", "value"])
    if df.empty:
        return df.assign(scaled=pd.Series(dtype=float))
    # one axis per metric: the run's own metric, else the metric registered with the version
    df = df.sort_values("group").drop_duplicates(["version", "metric"], keep="first")
    df["metric"] = df["metric"].str.removeprefix("validation:")
    df = df.drop_duplicates(["version", "metric"], keep="first")
    lo = df.groupby("metric")["value"].transform("min")
    hi = df.groupby("metric")["value"].transform("max")
    span = (hi - lo).where(hi > lo)
    df["scaled"] = ((df["value"] - lo) / span).fillna(0.5)
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
        y=alt.Y("scaled:Q", title="per metric: 0 lowest, 1 highest", scale=alt.Scale(domain=[0, 1])),
        # the legend beside the plot: below it, a legend line per version took the plot's height
        color=alt.Color("version:N", sort=order, legend=alt.Legend(orient="right", labelLimit=0)),
        detail="version:N",
        tooltip=["version", "environment", "metric", alt.Tooltip("value:Q", format=".4g")],
    )
    return (base.mark_line(point=True, strokeWidth=2)).properties(height=260)
