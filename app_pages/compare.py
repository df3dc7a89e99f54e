"""Compare: training runs of versions from any account side by side, and what versions cost to train and serve.

Read widgets → :func:`governance.usecases.compare.open_compare` → render.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from governance.compare_charts import runs_chart
from governance.usecases.compare import CompareQuery, open_compare
from portal import context
from portal.compare import runs_table
from portal.context import SELECTED_VERSION
from portal.tables import show_table
from portal.text import inert
from portal.widgets import show_error

ctx = context.get()
picks = st.session_state.get("compare.versions")
view = open_compare(ctx, CompareQuery(tuple(picks) if picks is not None else None,
                                      context.selected(SELECTED_VERSION)))
st.title("Compare versions")
if view.empty:
    st.info("No versions yet: sync an account on the **Accounts** page.")
    st.stop()

# opens on the lineage of the version chosen elsewhere (dev → staging → prod), else on the first two versions
if "compare.versions" not in st.session_state:
    st.session_state["compare.versions"] = list(view.picked)
picked = st.multiselect("Versions, from any account", list(view.ids), key="compare.versions")

st.subheader("Training runs side by side")
if len(picked) < 2:
    st.info("Pick at least two versions.")
else:
    if view.runs_error is not None:
        show_error(view.runs_error)
    else:
        result = view.runs
        missing = [s.version_id for s in result.sides if s.run_id is None]
        if missing:
            st.caption(f"No training run recorded for {inert(', '.join(missing))}.")
        if (chart := runs_chart(result)) is not None:
            st.altair_chart(chart, key="compare.chart")
        st.caption(f"{len(result.differences)} of {len(result.rows)} parameters, metrics, inputs and durations differ.")
        runs_table(result, key="compare.runs")

st.subheader("Estimated cost")
if view.costs_error is not None:
    show_error(view.costs_error)
    st.stop()
costs = view.costs
cur = costs.currency
st.caption(f"{costs.caveat} Prices: {costs.price_source}. Serving counted until {costs.as_of:%Y-%m-%d %H:%M} UTC. "
           "Override prices under `[costs]` in countersign.toml.")
if costs.unpriced:
    st.warning(f"Instance types without a price (add them under `[costs]`): {inert(', '.join(costs.unpriced))}")
if not costs.priced:
    st.info("Nothing to estimate: no training run or endpoint in the catalog records an instance type and a time "
            "Countersign can price (SageMaker training jobs and endpoints do; MLflow and ZenML runs record no "
            "instance type).", icon=":material/payments:")
    st.stop()
c1, c2 = st.columns(2)
with c1:  # each heading over its own table (they sat side by side above two full-width tables)
    st.markdown("**Per model**")
    show_table(pd.DataFrame({"Model": list(costs.by_model),
                             f"Total ({cur})": [round(x, 2) for x in costs.by_model.values()]}),
               key="compare.cost.model", width="stretch")
with c2:
    st.markdown("**Per account**")
    show_table(pd.DataFrame({"Account": list(costs.by_account),
                             f"Total ({cur})": [round(x, 2) for x in costs.by_account.values()]}),
               key="compare.cost.account", width="stretch")
st.markdown("**Per version**" + (" (the picked versions)" if picked else ""))
shown = [v for v in costs.versions if not picked or v.version_id in picked]
show_table(pd.DataFrame([{
    "Version": v.version_id, "Environment": v.environment,
    f"Training ({cur})": round(v.training, 2) if v.priced else None,
    f"Serving ({cur})": round(v.serving, 2) if v.priced else None,
    f"Total ({cur})": round(v.total, 2) if v.priced else None,
    "How": "; ".join(f"{ln.kind} {ln.what}: {ln.instance_count}× {ln.instance_type or 'instance type not recorded'}, "
                     f"{ln.basis}"
                     + ("" if ln.counted else " (not counted here)") for ln in v.lines) or "no run or endpoint recorded",
} for v in shown]), key="compare.cost.versions")
