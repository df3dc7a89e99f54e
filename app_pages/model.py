"""Model: versions per environment side by side, metrics across environments, lineage, model card.

Read widgets → :func:`governance.usecases.model.open_model` → render.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.wording import cell, words
from governance.catalog_charts import metrics_chart, timeline_chart
from governance.usecases.model import ModelQuery, open_model
from portal import context
from portal.compare import consistency_table
from portal.context import SELECTED_MODEL, SELECTED_VERSION
from portal.lifecycle import lifecycle_panels
from portal.oversight import review_panel
from portal.tables import show_table
from portal.text import code, inert, inert_block
from portal.why import why_panel
from portal.widgets import as_of_picker, as_of_wanted, label_badges, show_error, status_badge

ctx = context.get()
view = open_model(ctx, ModelQuery(
    model=context.wanted("model.name", SELECTED_MODEL), version=context.wanted("model.version", SELECTED_VERSION),
    as_of=as_of_wanted("model"), as_of_env=st.session_state.get("model.as_of_env")))
if view.empty:
    st.info("No models yet: sync an account on the **Accounts** page.")
    st.stop()

name = context.picker("Model", view.choice, key="model.name", selection=SELECTED_MODEL, forget=("version",))
if name is None:
    st.stop()
if name != view.choice.value:  # picked just now: the next run reads it
    st.rerun()
if view.error is not None:
    show_error(view.error)
    st.stop()
model, tier = view.model, view.tier
order = list(view.environments)

st.title(inert(name))
st.markdown(inert_block(model.description))
c1, c2, c3, c4 = st.columns(4)
c1.markdown(f"Owner  \n**{inert(model.owner) or '—'}**")  # a metric would cut a long e-mail address off
c2.metric("Risk tier", view.tier_name)
c3.metric("Approvals required", tier.approvals_required)
c4.metric("Versions", len(view.versions))
if model.intended_use:
    st.caption(f"Intended use: {inert(model.intended_use)}")

LISTED = 5  # versions per environment shown as lines; the others are a table one click away
st.subheader("Versions by environment")
served = view.served
cols = st.columns(len(order))
for col, env in zip(cols, order, strict=True):
    col.markdown(f"**{inert(env)}**")
    in_env = view.in_environment(env)
    if not in_env:
        col.caption("no versions")
    known = {v.version_id for v in view.versions}
    # the serving versions and the newest few as lines; the rest in one compact table (62 lines pushed the page down)
    listed = [v for v in in_env if v.version_id in served]
    listed += [v for v in in_env if v.version_id not in served][:max(LISTED - len(listed), 0)]
    for v in listed:
        serving = f" · serving on {code(served[v.version_id])}" if v.version_id in served else ""
        source = f" · from {code(v.source_version_id)}" if v.source_version_id and v.source_version_id not in known \
            else ""
        col.markdown(f"v{inert(view.labels[v.version_id])} {status_badge(v.approval_status)}{label_badges(v.labels)}"
                     f"{serving}{source}")
    rest = [v for v in in_env if v not in listed]
    if rest:
        with col.expander(f"{len(rest)} older version{'s' if len(rest) > 1 else ''}"):
            show_table(pd.DataFrame({"version": [view.labels[v.version_id] for v in rest],
                                     "approval_status": [v.approval_status for v in rest],
                                     "created_at": [v.created_at for v in rest]}),
                       key=f"model.older.{env}", height=min(38 + 35 * len(rest), 320))

st.subheader("History")
if view.timeline.empty:
    st.caption("No history yet: it is recorded at every sync from now on (and before it: countersign backfill).")
else:
    st.altair_chart(timeline_chart(view.timeline, order), key="model.timeline")
    st.caption("Markers show what recorded each change: a sync (inferred: the registry's modification time; "
               "observed: when the sync saw it), a registry event, or a backfill from CloudTrail or lifecycle "
               "actions (exact).")
as_of = as_of_picker("model")
if as_of is not None:
    env = st.selectbox("Environment", order, index=len(order) - 1, key="model.as_of_env")
    state = view.as_of
    for gap in state.gaps:
        st.warning(f"Not observed at that instant: {inert(gap)}")
    mine = view.as_of_versions()
    if not mine:
        st.caption(f"No version of {inert(name)} in {inert(env)} at {as_of:%Y-%m-%d %H:%M} UTC.")
    for v in mine:
        held = "".join(f" · holds {code(x)}" for x in v.serving_labels)  # the label that is the deployment there
        st.markdown(f"**v{v.version}** ({inert(v.account)}) {status_badge(v.approval_status)}{label_badges(v.labels)}"
                    f"{f' · serving on {code(v.deployed_on)}' if v.deployed_on else ''}{held}"
                    f" · since {v.valid_from:%Y-%m-%d %H:%M} (seen by {inert(v.source or v.time_source)})")
        if v.flag:
            st.error(f"{inert(v.flag.removeprefix('⚠ ').capitalize())} then: v{v.version} {inert(v.flag_reason)}",
                     icon=":material/gpp_bad:")
        for a in v.approvals:
            gates = ", ".join(f"{g} {s}" for g, s in sorted(a.gates.items()))
            st.caption(f"Approved by {inert(a.actor)} on {a.decided_at:%Y-%m-%d %H:%M} ({inert(a.request_id)}); "
                       f"gates: {inert(gates)}; evidence: {inert(', '.join(e['evidence_id'] for e in a.evidence)) or 'none'}")

if any(v.metrics for v in view.versions):
    st.subheader("Metrics across environments")
    if served:
        st.caption("Outlined bars, labelled (serving), are the versions serving on an endpoint.")
    st.altair_chart(metrics_chart(list(view.versions), order, serving=set(served)), key="model.metrics")

st.subheader("Lineage")
vid = context.picker("Version", view.version_choice, key="model.version", selection=SELECTED_VERSION,
                     scope=view.version_scope)
if vid is not None and vid != view.version_choice.value:  # picked just now: the next run reads it
    st.rerun()
panel = view.panel
if vid is not None and panel is not None:
    st.graphviz_chart(panel.lineage_dot)
    selected = panel.version
    why_panel(ctx, selected.version_id)
    actions = [("Review evidence", "app_pages/review.py", ":material/query_stats:"),
               ("Promotion requests", "app_pages/requests.py", ":material/approval:"),
               ("Export report", "app_pages/export.py", ":material/picture_as_pdf:")]
    buttons = st.columns(len(actions) + 2)
    for col, (label, target, icon) in zip(buttons, actions, strict=False):
        if col.button(label, icon=icon, key=f"model.go.{Path(target).stem}"):
            context.select(SELECTED_VERSION, selected.version_id)
            # the target opens on ?version=ID: /requests lists that version's requests, the others show it
            st.switch_page(target, query_params={"version": selected.version_id})
    with st.expander(f"Details of {inert(selected.version_id)}", expanded=False):
        show_table(panel.details, width="stretch", key="model.details",
                   column_config={"field": "Field",
                                  "value": st.column_config.TextColumn("Value", width="large")})
        with st.expander("Raw JSON"):
            st.json(panel.raw)
    review_panel(panel, view.overseen)
    st.subheader("Consistency across environments")
    consistency_table(panel.consistency, key="model.consistency")

st.subheader("Model card")
card = view.card
if card is None:
    st.info("No model card in any account. Policy tiers may require card fields before promotion.")
else:
    # registry cards (MLflow, ZenML) carry empty fields and nested values: both read as words (issue 35, finding 11)
    st.caption(f"{inert(card['card_id'])} · status {inert(cell(card['status']))}")
    for key, value in card["content"].items():
        st.markdown(f"**{inert(words(key).capitalize())}** — {inert_block(cell(value))}")
if view.missing_card_fields:
    st.warning(f"Tier {inert(view.tier_name)} requires model card fields that are missing: "
               f"{inert(', '.join(view.missing_card_fields))}")

lifecycle_panels(ctx, name)  # fallback and kill switch, incidents, card editor (portal/lifecycle.py)
