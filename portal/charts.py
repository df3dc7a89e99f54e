"""Charts of stored evidence, their Vega-Lite specs built once per evidence and reused on every rerun.

Turning an altair chart into its spec (altair checks it against the Vega-Lite schema) cost most of a Review page
run, and the page draws every tab's charts on every rerun. Evidence rows are never changed (a recomputation is a new
row with a new id), so a spec keyed by the evidence id and the chart's own arguments can never be stale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st


@st.cache_data(max_entries=512, show_spinner=False)
def _spec(key: tuple[str, ...], _build: Callable[[], Any]) -> dict[str, Any]:
    # _build is left out of the cache key on purpose: ``key`` names the evidence and the arguments it draws from
    return _build().to_dict()


def evidence_chart(key: tuple[str, ...], build: Callable[[], Any], *, widget_key: str) -> None:
    """Draw the altair chart ``build()`` returns; its spec is built once per ``key`` (the evidence id, then the
    chart's name and arguments)."""
    st.vega_lite_chart(spec=_spec(key, build), key=widget_key)
