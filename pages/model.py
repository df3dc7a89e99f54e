"""Model: versions per environment side by side, metrics across environments, lineage, model card."""

from __future__ import annotations

import streamlit as st

from governance.charts import metrics_chart
from governance.errors import CountersignError
from portal import context
from portal.context import SELECTED_MODEL, SELECTED_VERSION
from portal.widgets import show_error, status_badge

ctx = context.get()
catalog = ctx.catalog
names = catalog.filter_values()["models"]
if not names:
    st.info("No models yet: sync an account on the **Accounts** page.")
    st.stop()

wanted = context.selected(SELECTED_MODEL)
name = st.selectbox("Model", names, index=names.index(wanted) if wanted in names else 0, key="model.name")
context.select(SELECTED_MODEL, name)
try:
    model = catalog.model(name)
except CountersignError as exc:
    show_error(exc)
    st.stop()
versions = catalog.versions_of(name)
deployments = catalog.deployments(name)
tier = ctx.settings.tier(model.risk_tier)

st.title(name)
st.write(model.description or "")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Owner", model.owner or "—")
c2.metric("Risk tier", model.risk_tier or ctx.settings.policy.default_tier)
c3.metric("Approvals required", tier.approvals_required)
c4.metric("Versions", len(versions))
if model.intended_use:
    st.caption(f"Intended use: {model.intended_use}")

st.subheader("Versions by environment")
order = list(ctx.settings.environments.order)
served = {r.version_id: r.endpoint for r in deployments.itertuples() if r.version_id}
cols = st.columns(len(order))
for col, env in zip(cols, order, strict=True):
    col.markdown(f"**{env}**")
    in_env = sorted((v for v in versions if v.environment == env), key=lambda v: -v.version)
    if not in_env:
        col.caption("no versions")
    for v in in_env:
        serving = f" · serving on `{served[v.version_id]}`" if v.version_id in served else ""
        source = f" · from `{v.source_version_id}`" if v.source_version_id else ""
        col.markdown(f"v{v.version} {status_badge(v.approval_status)}{serving}{source}")

if any(v.metrics for v in versions):
    st.subheader("Metrics across environments")
    st.altair_chart(metrics_chart(versions, order), key="model.metrics")

st.subheader("Lineage")
ids = [v.version_id for v in sorted(versions, key=lambda v: (order.index(v.environment) if v.environment in order
                                                            else 99, -v.version))]
wanted_v = context.selected(SELECTED_VERSION)
vid = st.selectbox("Version", ids, index=ids.index(wanted_v) if wanted_v in ids else 0, key="model.version")
context.select(SELECTED_VERSION, vid)
chain = catalog.lineage(vid)
root = chain[-1]
run = catalog.run(root.run_id) if root.run_id else None
dot = ["digraph { rankdir=LR; node [shape=box, style=rounded, fontname=Helvetica];"]
if run:
    dot.append(f'"run" [label="training run\\n{run["name"]}", shape=ellipse];')
    dot.append(f'"run" -> "{root.version_id}";')
for v in reversed(chain):
    dot.append(f'"{v.version_id}" [label="{v.environment} v{v.version}\\n{v.approval_status}"];')
for newer, older in zip(chain, chain[1:], strict=False):
    dot.append(f'"{older.version_id}" -> "{newer.version_id}" [label="promoted"];')
for d in deployments.itertuples():
    if d.version_id in {v.version_id for v in chain}:
        dot.append(f'"ep:{d.endpoint}" [label="endpoint\\n{d.endpoint}", shape=cds];')
        dot.append(f'"{d.version_id}" -> "ep:{d.endpoint}" [label="serves"];')
for child in catalog.descendants(vid):
    dot.append(f'"{child}" [label="{child}", style=dashed];')
dot.append("}")
# edges from the selected version down to its descendants
for child in catalog.descendants(vid):
    parent = catalog.version(child).source_version_id
    dot.insert(-1, f'"{parent}" -> "{child}" [label="promoted"];')
st.graphviz_chart("\n".join(dot))

selected = chain[0]
with st.expander(f"Details of {selected.version_id}", expanded=False):
    a, b = st.columns(2)
    a.write({"created_by": selected.created_by, "created_at": str(selected.created_at),
             "approval_status": selected.approval_status, "artifact_uri": selected.artifact_uri,
             "artifact_sha256": selected.artifact_sha256, "framework": selected.framework})
    b.write({"metrics": selected.metrics, "data": selected.data_uris, "metadata": selected.metadata})
    if run:
        st.write({"run": run["name"], "params": run["params"], "metrics": run["metrics"]})

st.subheader("Model card")
card = catalog.model_card(name)
if card is None:
    st.info("No model card in any account. Policy tiers may require card fields before promotion.")
else:
    st.caption(f"{card['card_id']} · status {card['status']}")
    for key, value in card["content"].items():
        st.markdown(f"**{key.replace('_', ' ').capitalize()}** — {value}")
missing = [f for f in tier.required_card_fields if not (card and card["content"].get(f))]
if missing:
    st.warning(f"Tier {model.risk_tier} requires model card fields that are missing: {', '.join(missing)}")
