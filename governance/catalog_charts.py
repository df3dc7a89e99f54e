"""Altair charts of catalog facts, shared by the pages and the PDF reports (no streamlit here)."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence

import altair as alt
import pandas as pd

from core.wording import D3_SIGNIFICANT, when, words
from governance.catalog import Catalog, Version

SERVING_MARK = "serving"  # appended to the label of a version that serves on an endpoint


def metrics_frame(versions: Sequence[Version], order: Sequence[str], serving: Collection[str] = ()) -> pd.DataFrame:
    """Long table of (version, environment, metric, value, serving) for the versions given; ``serving`` holds the
    ids of the versions serving on an endpoint, whose label says so."""
    rank = {env: i for i, env in enumerate(order)}
    rows = [
        {"version": f"{v.environment} v{v.version}" + (f" ({SERVING_MARK})" if v.version_id in serving else ""),
         "environment": v.environment, "metric": name, "value": value, "serving": v.version_id in serving,
         "rank": (rank.get(v.environment, 99), v.version)}
        for v in versions
        for name, value in sorted(v.metrics.items())
    ]
    df = pd.DataFrame(rows, columns=["version", "environment", "metric", "value", "serving", "rank"])
    return df.sort_values("rank").drop(columns="rank").reset_index(drop=True)


def metrics_chart(versions: Sequence[Version], order: Sequence[str], serving: Collection[str] = ()) -> alt.Chart:
    """Each metric of each version, side by side, coloured by environment; the versions in ``serving`` (ids) are
    outlined and labelled "(serving)"."""
    df = metrics_frame(versions, order, serving)
    labels = list(dict.fromkeys(df["version"]))
    # horizontal bars: a version's label reads whole on the left ("prod v2 (serving)"); rotated under a column it
    # was cut at the chart's edge ("od v2 (serving)", issue 35, finding 12)
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            # every version named: vega drops labels it thinks overlap (every other one went missing)
            y=alt.Y("version:N", sort=labels, title=None, axis=alt.Axis(labelLimit=0, labelOverlap=False)),
            x=alt.X("value:Q", title=None, axis=alt.Axis(labelLimit=0, format=D3_SIGNIFICANT)),
            color=alt.Color("environment:N", sort=list(order), legend=alt.Legend(orient="top")),
            stroke=alt.condition("datum.serving", alt.value("#111111"), alt.value(None)),
            strokeWidth=alt.condition("datum.serving", alt.value(2.5), alt.value(0)),
            column=alt.Column("metric:N", title=None, header=alt.Header(labelLimit=0)),
            tooltip=["version", "environment", "metric", alt.Tooltip("value:Q", format=".3f"),
                     alt.Tooltip("serving:N", title="serving")],
        )
        .resolve_scale(x="independent")
        .properties(width=150, height=alt.Step(20))
    )


# Graphviz reads HTML entities in every string: written as entities, a quote cannot end a quoted DOT string and a
# backslash cannot start an escape (a trailing ``\\`` would otherwise swallow the closing quote)
_DOT_ENTITIES = {"&": "&amp;", '"': "&quot;", "\\": "&#92;", "<": "&lt;", ">": "&gt;"}


def dot_string(text: object) -> str:
    """``text`` as one quoted DOT string that Graphviz draws exactly as written (control characters as spaces)."""
    value = "".join(" " if ord(ch) < 32 or ch == "\x7f" else _DOT_ENTITIES.get(ch, ch) for ch in str(text))
    return f'"{value}"'


def _dot_label(*lines: object) -> str:
    """A label of several lines, each quoted by :func:`dot_string` and joined by Graphviz's own ``\\n``."""
    return '"' + "\\n".join(dot_string(line)[1:-1] for line in lines) + '"'


def lineage_dot(catalog: Catalog, version_id: str) -> str:
    """Graphviz DOT of run → version → source versions → endpoints, plus versions promoted from this one.

    Every name comes from a registry: ids and labels are quoted with :func:`dot_string`, so a ``"`` in a run or
    endpoint name stays part of its label instead of ending it and setting attributes of its own.
    """
    chain = catalog.lineage(version_id)
    root = chain[-1]
    run = catalog.run(root.run_id) if root.run_id else None
    lines = ["digraph {", "rankdir=LR;", 'node [shape=box, style=rounded, fontname="Helvetica"];']
    q = dot_string

    def node(v: Version, style: str = "rounded") -> None:
        label = _dot_label(v.account, f"{v.model} v{v.version}", v.approval_status)
        lines.append(f'{q(v.version_id)} [label={label}, style="{style}"];')

    if run:
        lines.append(f'"run" [label={_dot_label("training run", run["name"])}, shape=ellipse];')
        lines.append(f'"run" -> {q(root.version_id)};')
    for v in chain:
        node(v, "rounded,bold" if v.version_id == version_id else "rounded")
    for newer, older in itertools.pairwise(chain):
        lines.append(f'{q(older.version_id)} -> {q(newer.version_id)} [label="promoted"];')
    for child_id in catalog.descendants(version_id):
        child = catalog.version(child_id)
        node(child, "rounded,dashed")
        lines.append(f'{q(child.source_version_id)} -> {q(child_id)} [label="promoted"];')
    shown = {v.version_id for v in chain} | set(catalog.descendants(version_id))
    deployments = catalog.deployments(root.model)
    for d in deployments.itertuples():
        if d.version_id in shown:
            endpoint = q(f"ep:{d.deployment_id}")
            lines.append(f'{endpoint} [label={_dot_label("endpoint", d.endpoint, words(d.status))}, shape=cds];')
            lines.append(f'{q(d.version_id)} -> {endpoint} [label="serves"];')
    lines.append("}")
    return "\n".join(lines)


TIME_AXIS = "%Y-%m-%d %H:%M"  # 24-hour, UTC (the scale is UTC)


def _utc_words(timeline: pd.DataFrame) -> pd.DataFrame:
    """The timeline with its instants UTC-aware (they reach the browser as ``…+00:00``), their text for tooltips,
    and the registry states and decisions in words (``pending approval``, ``risk acceptance``)."""
    df = timeline.copy()
    for column, text in (("start", "from"), ("end", "to")):
        instants = pd.to_datetime(df[column])
        df[column] = instants.dt.tz_localize("UTC") if instants.dt.tz is None else instants.dt.tz_convert("UTC")
        df[text] = [when(x) for x in instants]
    df["status"] = [words(x) if isinstance(x, str) and x else x for x in df["status"]]
    return df


def timeline_chart(timeline: pd.DataFrame, order: Sequence[str]) -> alt.Chart:
    """A model across environments over time (``governance.history.model_timeline``): versions entering and leaving
    (coloured by approval status), deployments, observation gaps, and decisions as ticks."""
    df = _utc_words(timeline)
    df["row"] = df["environment"] + " · " + df["lane"]
    rows = [f"{env} · {lane}" for env in [*order, *sorted(set(df["environment"]) - set(order))]
            for lane in ("version", "deployment", "gap", "decision") if f"{env} · {lane}" in set(df["row"])]
    base = alt.Chart(df).encode(
        y=alt.Y("row:N", sort=rows, title=None, axis=alt.Axis(labelLimit=0)),  # lane names in full
        tooltip=["environment", "lane", "label", "status", *(["source"] if "source" in df else []),
                 alt.Tooltip("from:N", title="from"), alt.Tooltip("to:N", title="to")],
    )
    bars = base.transform_filter(alt.datum.lane != "decision").mark_bar(height=14, opacity=0.8).encode(
        # the catalog's instants are UTC: a UTC scale on a 24-hour clock, never the browser's zone and 04:41 PM
        x=alt.X("start:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format=TIME_AXIS)), x2="end:T",
        color=alt.Color("status:N", legend=alt.Legend(orient="top", title=None, labelLimit=0)),
    )
    ticks = base.transform_filter(alt.datum.lane == "decision").mark_point(shape="diamond", size=90, filled=True).encode(
        x="start:T", color=alt.Color("status:N"),
    )
    if "source" not in df:
        return (bars + ticks).properties(height=alt.Step(26))
    # where each change came from (a sync, an event, CloudTrail …) and how sure its time is: a marker at its start
    starts = base.transform_filter((alt.datum.lane == "version") | (alt.datum.lane == "deployment")).mark_point(
        size=55, filled=True, color="#333", opacity=0.85).encode(
        x="start:T", shape=alt.Shape("source:N", legend=alt.Legend(orient="top", title="change seen by")),
    )
    # a fixed step per row: a total height (legend and axis inside it) squeezed two rows into one and dropped
    # the labels of others
    return (bars + ticks + starts).properties(height=alt.Step(26))
