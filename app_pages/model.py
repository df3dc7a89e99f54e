"""Model: versions per environment side by side, metrics across environments, lineage, model card."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import CountersignError, NotFound
from governance.catalog_charts import lineage_dot, metrics_chart, timeline_chart
from governance.compare import environment_consistency
from governance.history import environment_at, model_timeline, version_details, version_json, version_label
from governance.policy import missing_card_fields, model_tier
from portal import context
from portal.compare import consistency_table
from portal.context import SELECTED_MODEL, SELECTED_VERSION
from portal.oversight import review_panel
from portal.tables import show_table
from portal.text import code, inert, inert_block
from portal.widgets import as_of_picker, label_badges, show_error, status_badge

ctx = context.get()
catalog = ctx.catalog
names = catalog.filter_values()["models"]
if not names:
    st.info("No models yet: sync an account on the **Accounts** page.")
    st.stop()

# /model?version=ID alone opens the model of that version, with that version selected
owner = None
if linked := context.linked(SELECTED_VERSION):
    try:
        owner = catalog.version(linked).model
    except NotFound:
        pass  # the Version select box below names the unknown id
name = context.choose("Model", names, key="model.name", selection=SELECTED_MODEL, fallback=owner,
                      forget=("version",))
if name is None:
    st.stop()
try:
    model = catalog.model(name)
except CountersignError as exc:
    show_error(exc)
    st.stop()
versions = catalog.versions_of(name)
deployments = catalog.deployments(name)
tier_name, tier = model_tier(catalog, ctx.settings, name)

st.title(inert(name))
st.markdown(inert_block(model.description))
c1, c2, c3, c4 = st.columns(4)
c1.markdown(f"Owner  \n**{inert(model.owner) or '—'}**")  # a metric would cut a long e-mail address off
c2.metric("Risk tier", tier_name)
c3.metric("Approvals required", tier.approvals_required)
c4.metric("Versions", len(versions))
if model.intended_use:
    st.caption(f"Intended use: {inert(model.intended_use)}")

st.subheader("Versions by environment")
order = list(ctx.settings.environments.order)
served = {r.version_id: r.endpoint for r in deployments.itertuples() if r.version_id}
by_id = {v.version_id: v for v in versions}
cols = st.columns(len(order))
for col, env in zip(cols, order, strict=True):
    col.markdown(f"**{inert(env)}**")
    in_env = sorted((v for v in versions if v.environment == env), key=lambda v: -v.version)
    if not in_env:
        col.caption("no versions")
    for v in in_env:
        serving = f" · serving on {code(served[v.version_id])}" if v.version_id in served else ""
        src = by_id.get(v.source_version_id or "")
        number = version_label(v.version, (src.environment, src.version) if src else None)
        source = f" · from {code(v.source_version_id)}" if v.source_version_id and src is None else ""
        col.markdown(f"v{inert(number)} {status_badge(v.approval_status)}{label_badges(v.labels)}{serving}{source}")

st.subheader("History")
timeline = model_timeline(catalog, name)
if timeline.empty:
    st.caption("No history yet: it is recorded at every sync from now on.")
else:
    st.altair_chart(timeline_chart(timeline, order), key="model.timeline")
as_of = as_of_picker("model")
if as_of is not None:
    env = st.selectbox("Environment", order, index=len(order) - 1, key="model.as_of_env")
    state = environment_at(ctx.settings, catalog, env, as_of)
    for gap in state.gaps:
        st.warning(f"Not observed at that instant: {inert(gap)}")
    mine = [v for v in state.versions if v.model == name]
    if not mine:
        st.caption(f"No version of {inert(name)} in {inert(env)} at {as_of:%Y-%m-%d %H:%M} UTC.")
    for v in mine:
        held = "".join(f" · holds {code(x)}" for x in v.serving_labels)  # the label that is the deployment there
        st.markdown(f"**v{v.version}** ({inert(v.account)}) {status_badge(v.approval_status)}{label_badges(v.labels)}"
                    f"{f' · serving on {code(v.deployed_on)}' if v.deployed_on else ''}{held}"
                    f" · since {v.valid_from:%Y-%m-%d %H:%M} ({v.time_source} time)")
        if v.flag:
            st.error(f"{inert(v.flag.removeprefix('⚠ ').capitalize())} then: v{v.version} {inert(v.flag_reason)}",
                     icon=":material/gpp_bad:")
        for a in v.approvals:
            gates = ", ".join(f"{g} {s}" for g, s in sorted(a.gates.items()))
            st.caption(f"Approved by {inert(a.actor)} on {a.decided_at:%Y-%m-%d %H:%M} ({inert(a.request_id)}); "
                       f"gates: {inert(gates)}; evidence: {inert(', '.join(e['evidence_id'] for e in a.evidence)) or 'none'}")

if any(v.metrics for v in versions):
    st.subheader("Metrics across environments")
    if served:
        st.caption("Outlined bars, labelled (serving), are the versions serving on an endpoint.")
    st.altair_chart(metrics_chart(versions, order, serving=set(served)), key="model.metrics")

st.subheader("Lineage")
ids = [v.version_id for v in sorted(versions, key=lambda v: (order.index(v.environment) if v.environment in order
                                                            else 99, -v.version))]
vid = context.choose("Version", ids, key="model.version", selection=SELECTED_VERSION,
                     scope=f"a version of {name}" if owner else "in the catalog",
                     first=catalog.first_with_evidence(ids))
if vid is not None:
    chain = catalog.lineage(vid)
    st.graphviz_chart(lineage_dot(catalog, vid))
    selected = chain[0]
    actions = [("Review evidence", "app_pages/review.py", ":material/query_stats:"),
               ("Promotion requests", "app_pages/requests.py", ":material/approval:"),
               ("Export report", "app_pages/export.py", ":material/picture_as_pdf:")]
    buttons = st.columns(len(actions) + 2)
    for col, (label, target, icon) in zip(buttons, actions, strict=False):
        if col.button(label, icon=icon, key=f"model.go.{Path(target).stem}"):
            context.select(SELECTED_VERSION, selected.version_id)
            # the target opens on ?version=ID: /requests lists that version's requests, the others show it
            st.switch_page(target, query_params={"version": selected.version_id})
    run = catalog.run(chain[-1].run_id) if chain[-1].run_id else None
    with st.expander(f"Details of {inert(selected.version_id)}", expanded=False):
        show_table(version_details(selected, run), width="stretch", key="model.details",
                   column_config={"field": st.column_config.TextColumn("Field", width="medium"),
                                  "value": st.column_config.TextColumn("Value", width="large")})
        with st.expander("Raw JSON"):
            st.json(version_json(selected, run))
    review_panel(ctx, selected.version_id)
    st.subheader("Consistency across environments")
    consistency_table(environment_consistency(catalog, vid, order), key="model.consistency")

st.subheader("Model card")
card = catalog.model_card(name)
if card is None:
    st.info("No model card in any account. Policy tiers may require card fields before promotion.")
else:
    st.caption(f"{inert(card['card_id'])} · status {inert(card['status'])}")
    for key, value in card["content"].items():
        st.markdown(f"**{inert(str(key).replace('_', ' ').capitalize())}** — {inert_block(value)}")
missing = missing_card_fields(tier, card)
if missing:
    st.warning(f"Tier {inert(tier_name)} requires model card fields that are missing: {inert(', '.join(missing))}")
