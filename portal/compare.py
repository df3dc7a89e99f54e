"""Rendering of comparisons: side-by-side tables with the differences highlighted."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.wording import cell, figures
from governance.compare import Consistency, RunsComparison
from portal.tables import show_table
from portal.text import inert

DIFF_STYLE = "background-color: #fde2e1; color: #8a1c14; font-weight: 600"
INFO_STYLE = "background-color: #fff4d6"
STATUS_TEXT = {"same": "same", "differs": "DIFFERS", "partial": "not recorded everywhere", "absent": "—"}


def consistency_frame(result: Consistency, *, only_differences: bool = False) -> pd.DataFrame:
    """One row per property, one column per version, and a status column."""
    rows = []
    for f in result.facets:
        if only_differences and not f.differs:
            continue
        status = STATUS_TEXT[f.status] if f.critical or not f.differs else "differs (expected: location)"
        rows.append({"Group": f.group, "Property": f.name,
                     **{s.label: cell(v) for s, v in zip(result.sides, f.values, strict=True)}, "Status": status})
    return pd.DataFrame(rows, columns=["Group", "Property", *(s.label for s in result.sides), "Status"])


def _highlight(row: pd.Series) -> list[str]:
    style = DIFF_STYLE if row["Status"] == "DIFFERS" else INFO_STYLE if row["Status"].startswith("differs") else ""
    return [style] * len(row)


def consistency_table(result: Consistency, *, key: str) -> None:
    """The side-by-side table with differing rows highlighted, and a one-line verdict above it."""
    if not result.comparable:
        st.caption("This version has no source and no promoted copy yet: nothing to compare.")
        return
    if result.consistent:
        st.success(f"The {len(result.sides)} versions of this lineage run the same artifact, container and "
                   "inference contract.", icon=":material/check_circle:")
    else:
        names = ", ".join(f"{f.group.lower()}: {f.name}" for f in result.critical_differences)
        st.error(f"Configuration differs between environments — {inert(names)}.", icon=":material/difference:")
    only = st.toggle("Only differences", value=not result.consistent, key=f"{key}.only")
    df = consistency_frame(result, only_differences=only)
    show_table(df.style.apply(_highlight, axis=1), key=f"{key}.table")


def _row_figures(values: list[object]) -> list[str]:
    """One row's values with the same decimals ("0" beside "0.27" read as another kind of value); rounded figures
    that would hide a difference are shown in full."""
    shown = figures(values, digits=4)
    if len(set(shown)) < len({repr(v) for v in values}):
        return ["—" if v is None else str(v) for v in values]
    return shown


def runs_frame(result: RunsComparison, *, only_differences: bool = False) -> pd.DataFrame:
    """One row per parameter / metric / input, one column per version."""
    rows = []
    for r in result.rows:
        if only_differences and not r.differs:
            continue
        rows.append({"Kind": r.group, "Name": r.name,
                     **dict(zip((s.version_id for s in result.sides), _row_figures(r.values), strict=True)),
                     "Differs": "DIFFERS" if r.differs else ""})
    return pd.DataFrame(rows, columns=["Kind", "Name", *(s.version_id for s in result.sides), "Differs"])


def runs_table(result: RunsComparison, *, key: str) -> None:
    """The runs side by side, differing rows highlighted."""
    only = st.toggle("Only differences", value=bool(result.differences), key=f"{key}.only")
    df = runs_frame(result, only_differences=only)
    show_table(df.style.apply(lambda row: [DIFF_STYLE if row["Differs"] else ""] * len(row), axis=1),
               key=f"{key}.table")
