"""Inventory: every model and version across accounts and environments.

Read widgets → :func:`governance.usecases.inventory.open_inventory` → render.
"""

from __future__ import annotations

import streamlit as st

from governance.usecases.inventory import InventoryFilter, InventoryQuery, open_inventory
from portal import context
from portal.context import SELECTED_MODEL, SELECTED_VERSION
from portal.tables import show_table
from portal.text import inert
from portal.why import why_panel
from portal.widgets import as_of_picker, as_of_wanted

ctx = context.get()
state = st.session_state
view = open_inventory(ctx, InventoryQuery(
    InventoryFilter(environments=tuple(state.get("inv.env") or ()), accounts=tuple(state.get("inv.account") or ()),
                    statuses=tuple(state.get("inv.status") or ()), risk_tiers=tuple(state.get("inv.tier") or ()),
                    owners=tuple(state.get("inv.owner") or ()), text=state.get("inv.text") or ""),
    as_of=as_of_wanted("inv"), only_flagged=bool(state.get("inv.only_flagged"))))
st.title("Model inventory")

values = view.values
if view.empty:
    st.info(
        "The catalog is empty. Add accounts to `countersign.toml`, then sync them from the **Accounts** page "
        "or with `countersign sync`."
    )
    st.page_link("app_pages/accounts.py", label="Go to Accounts", icon=":material/cloud_sync:")
    st.stop()

c1, c2, c3, c4, c5, c6 = st.columns([1.2, 1.2, 1.2, 1, 1.4, 1.6])
c1.multiselect("Environment", list(view.environments), key="inv.env")
c2.multiselect("Account", values["accounts"], key="inv.account")
c3.multiselect("Status", values["statuses"], key="inv.status")
c4.multiselect("Risk tier", values["risk_tiers"], key="inv.tier")
c5.multiselect("Owner", values["owners"], key="inv.owner")
c6.text_input("Search", placeholder="model, version, person…", key="inv.text")
as_of = as_of_picker("inv")
df = view.rows
if as_of is not None:
    st.caption(f"As of {as_of:%Y-%m-%d %H:%M} UTC, from the registry history.")
    if view.gaps:
        st.warning(f"Not observed at that instant (the last state seen is shown): {inert(', '.join(view.gaps))}")
    for note in view.coverage:  # history starts later
        st.warning(inert(note))
flagged = view.flagged
m1, m2, m3, m4 = st.columns(4)
m1.metric("Models", df["model"].nunique())
m2.metric("Versions", len(df))
m3.metric("Serving", int(df["in_use"].sum()), help="On an endpoint in service, or holding the registry label its "
          "account maps to its environment (an MLflow alias, a ZenML stage)")
m4.metric("Unapproved deployments", len(flagged), delta=None if flagged.empty else "needs attention",
          delta_color="inverse")

FLAGS_LISTED = 5  # the rest are one toggle away: a long list would push the table off the screen

if not flagged.empty:
    lines = "\n".join(
        f"- **{inert(r.model)} v{r.version}** ({inert(r.account)}, {inert(r.environment)}) {inert(r.flag_reason)}"
        for r in flagged.head(FLAGS_LISTED).itertuples()
    )
    more = len(flagged) - FLAGS_LISTED
    if more > 0:
        lines += (f"\n\n…and {more} more, marked ⚠ in the table's Flag column: turn on **Only flagged** to list "
                  "them all.")
    st.error(f"Serving versions that are not approved, or not what was approved:\n{lines}", icon=":material/gpp_bad:")
    st.toggle("Only flagged", key="inv.only_flagged", help="Show only the deployments flagged above")
    df = view.shown

if df.empty:
    st.info("No version matches these filters.")
    st.stop()


table = df
event = show_table(
    table,
    width="stretch",
    height=min(38 + 35 * len(table), 560),
    key="inv.table",
    on_select="rerun",
    selection_mode="single-row",
    # registry labels (MLflow aliases, ZenML stages) get a column when any version shown has one
    column_order=["version_id", "version_label", "environment", *(["labels"] if table["labels"].map(len).any() else []),
                  "approval_status", "deployed_on", "flag", "flag_reason", "risk_tier", "owner",
                  "created_by", "created_at", "source_version_id", "account", "model", "last_sync"],
    column_config={
        "version_id": st.column_config.TextColumn("Version id"),
        "model": "Model",
        "version_label": st.column_config.TextColumn("Version", help="The version number in its registry; a "
                                                     "promoted copy names the version it was promoted from"),
        "environment": "Environment",
        "labels": st.column_config.ListColumn("Labels", help="Registry labels: MLflow aliases, ZenML stages"),
        "approval_status": "Registry status",
        "risk_tier": "Risk tier",
        "deployed_on": st.column_config.TextColumn("Deployed on"),
        "flag": "Flag",
        "flag_reason": st.column_config.TextColumn("Why flagged", width="large"),
        "created_at": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD"),
        "source_version_id": st.column_config.TextColumn("Promoted from"),
        "last_sync": st.column_config.DatetimeColumn("Last sync", format="YYYY-MM-DD HH:mm"),
        "account": "Account",
        "owner": st.column_config.TextColumn("Owner"),
        "created_by": st.column_config.TextColumn("Created by"),
    },
)
rows = event.selection.rows if event is not None else []
if rows:
    chosen = table.iloc[rows[0]]
    st.markdown(f"Selected **{inert(chosen['version_id'])}**")
    why_panel(ctx, chosen["version_id"])
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Open model", key="inv.open_model", icon=":material/account_tree:"):
        context.select(SELECTED_MODEL, chosen["model"])
        context.select(SELECTED_VERSION, chosen["version_id"])
        st.switch_page("app_pages/model.py")
    if b2.button("Review version", key="inv.review", icon=":material/query_stats:"):
        context.select(SELECTED_MODEL, chosen["model"])
        context.select(SELECTED_VERSION, chosen["version_id"])
        st.switch_page("app_pages/review.py")
else:
    st.caption("Select a row to open its model or review the version.")

with st.expander("Sync freshness per account"):
    status = view.sync_status
    show_table(status[["account", "environment", "connector", "status", "last_success", "versions", "error"]],
               width="stretch")
