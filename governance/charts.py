"""Altair charts of catalog facts, shared by the pages and the PDF reports (no streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from governance.catalog import Version


def metrics_frame(versions: Sequence[Version], order: Sequence[str]) -> pd.DataFrame:
    """Long table of (version, environment, metric, value) for the versions given."""
    rank = {env: i for i, env in enumerate(order)}
    rows = [
        {"version": f"{v.environment} v{v.version}", "environment": v.environment, "metric": name, "value": value,
         "rank": (rank.get(v.environment, 99), v.version)}
        for v in versions
        for name, value in sorted(v.metrics.items())
    ]
    df = pd.DataFrame(rows, columns=["version", "environment", "metric", "value", "rank"])
    return df.sort_values("rank").drop(columns="rank").reset_index(drop=True)


def metrics_chart(versions: Sequence[Version], order: Sequence[str]) -> alt.Chart:
    """Each metric of each version, side by side, coloured by environment."""
    df = metrics_frame(versions, order)
    labels = list(dict.fromkeys(df["version"]))
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("version:N", sort=labels, title=None, axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("environment:N", sort=list(order), legend=alt.Legend(orient="top")),
            column=alt.Column("metric:N", title=None),
            tooltip=["version", "environment", "metric", alt.Tooltip("value:Q", format=".4f")],
        )
        .resolve_scale(y="independent")
        .properties(width=150, height=180)
    )
