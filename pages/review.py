"""Review: a version's drift, bias and explainability evidence, loaded when stored, computed on request."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from governance.analytics import charts
from governance.analytics.evidence import cached_drift_report, drift_report_html, review_version, save_upload
from governance.errors import CountersignError
from portal import context
from portal.context import SELECTED_VERSION
from portal.export import export_panel
from portal.widgets import run_with_progress, show_error

ctx = context.get()
inventory = ctx.catalog.inventory()
if inventory.empty:
    st.info("No versions yet: sync an account on the **Accounts** page.")
    st.stop()

st.title("Review")
ids = list(inventory["version_id"])
wanted = context.selected(SELECTED_VERSION)
vid = st.selectbox("Version", ids, index=ids.index(wanted) if wanted in ids else 0, key="review.version")
context.select(SELECTED_VERSION, vid)

upload = st.file_uploader(
    "Current data (optional): compare the reference with this file instead of the version's monitoring data",
    type=["csv", "parquet", "arrow", "feather"], key="review.upload",
)
current_path = None
if upload is not None:
    try:
        current_path = save_upload(ctx.workspace, upload.name, upload.getvalue())
    except CountersignError as exc:
        show_error(exc)

can_compute = ctx.identity.can("compute_evidence")
compute = st.button(
    "Compute missing evidence", type="primary", disabled=not can_compute, key="review.compute",
    help=None if can_compute else "Your role may view stored evidence but not compute it.",
)
try:
    if compute:
        result = run_with_progress(
            f"Computing evidence for {vid}",
            lambda progress: review_version(ctx.workspace, ctx.settings, ctx.catalog, vid, actor=ctx.identity,
                                            progress=progress, current_path=current_path),
        )
    else:
        result = review_version(ctx.workspace, ctx.settings, ctx.catalog, vid, actor=ctx.identity,
                                current_path=current_path, compute=False)
except CountersignError as exc:
    show_error(exc)
    st.stop()


def _status(kind: str) -> bool:
    """Say where this kind's evidence came from; True when there is evidence to draw."""
    item = result.item(kind)
    if item.evidence is not None:
        ev = item.evidence
        st.caption(f"Evidence `{ev.evidence_id}` · {item.status} · computed {ev.computed_at:%Y-%m-%d %H:%M} UTC by "
                   f"{ev.computed_by} · input sha256 `{ev.input_hash[:12]}…`")
        return True
    if item.status == "not_applicable":
        st.info(item.message)
    elif item.status in ("error", "denied"):
        st.error(item.message)
    else:
        hint = " Press **Compute missing evidence**." if can_compute else " Ask a data scientist or risk officer."
        st.info(f"{item.message}.{hint}")
    return False


drift_tab, bias_tab, explain_tab = st.tabs(["Drift", "Bias", "Explainability"])

with drift_tab:
    if _status("drift"):
        d = result.drift
        c1, c2, c3 = st.columns(3)
        c1.metric("Drifted columns", f"{len(d.drifted_columns)} of {len(d.columns)}")
        c2.metric("Drift share", f"{d.drift_share:.0%}", help=f"dataset drift at ≥ {d.drift_share_threshold:.0%}")
        c3.metric("Dataset drift", "yes" if d.dataset_drifted else "no")
        st.altair_chart(charts.drift_chart(d), key="review.drift_chart")
        st.dataframe(
            pd.DataFrame([{"column": c.column, "type": c.column_type, "method": c.method, "score": c.score,
                           "threshold": c.threshold, "drifted": c.drifted, "PSI": c.psi,
                           "exact": c.exact, "reference rows": c.n_reference, "current rows": c.n_current}
                          for c in d.columns]),
            hide_index=True, key="review.drift_table",
        )
        for label, cols in (("Missing in current data", d.missing_in_current),
                            ("Missing in reference data", d.missing_in_reference)):
            if cols:
                st.warning(f"{label}: {', '.join(cols)}")
        for col, reason in d.skipped:
            st.warning(f"{col} not compared: {reason}")
        names = [c.column for c in d.columns]
        pick = st.selectbox("Column", names, index=names.index(d.drifted_columns[0]) if d.drifted_columns else 0,
                            key="review.drift_column")
        st.altair_chart(charts.column_chart(d.column(pick)), key="review.column_chart")

        st.subheader("Evidently report")
        ev = result.item("drift").evidence
        report = cached_drift_report(ctx.workspace, ev)
        if report is None and st.button("Build the Evidently report (sample ≤ 100,000 rows)", key="review.evidently"):
            try:
                report = run_with_progress("Running Evidently's DataDriftPreset",
                                           lambda progress: drift_report_html(ctx.workspace, ev))
            except CountersignError as exc:
                show_error(exc)
        if report is not None:
            html = report.read_text(encoding="utf-8")
            st.download_button("Download the Evidently report (HTML)", html, file_name=f"{ev.evidence_id}.html",
                               mime="text/html", key="review.evidently_download")
            components.html(html, height=900, scrolling=True)

with bias_tab:
    if _status("bias"):
        b = result.bias
        st.caption(f"{b.n} scored rows · label `{b.label}` = {b.positive_label!r} is favourable · "
                   f"prediction `{b.prediction}`")
        for w in b.warnings:
            st.warning(w)
        for a in b.attributes:
            st.subheader(a.attribute)
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("Parity ratio", "n/a" if a.demographic_parity_ratio is None
                      else f"{a.demographic_parity_ratio:.2f}")
            c2.metric("Four-fifths rule", "passes" if a.four_fifths_pass else "FAILS")
            c3.metric("Parity difference", f"{a.demographic_parity_difference:.3f}")
            c4.metric("Equalized odds diff.", "n/a" if a.equalized_odds_difference is None
                      else f"{a.equalized_odds_difference:.3f}")
            st.altair_chart(charts.bias_chart(b, a.attribute), key=f"review.bias_chart.{a.attribute}")
            st.dataframe(pd.DataFrame([{"group": g.group, "n": g.n, "selection rate": g.selection_rate,
                                        "TPR": g.tpr, "FPR": g.fpr, "precision": g.precision,
                                        "accuracy": g.accuracy, "too small": g.small} for g in a.groups]),
                         hide_index=True, key=f"review.bias_table.{a.attribute}")
            with st.expander(f"SageMaker Clarify metrics for {a.attribute} (facet = group, against the rest)"):
                st.dataframe(pd.DataFrame(a.clarify), key=f"review.clarify.{a.attribute}")
        if b.intersections:
            with st.expander("Intersections"):
                for a in b.intersections:
                    st.markdown(f"**{a.attribute}** — parity ratio "
                                f"{'n/a' if a.demographic_parity_ratio is None else f'{a.demographic_parity_ratio:.2f}'}")
                    st.dataframe(pd.DataFrame([{"group": g.group, "n": g.n, "selection rate": g.selection_rate,
                                                "TPR": g.tpr, "FPR": g.fpr, "too small": g.small}
                                               for g in a.groups]),
                                 hide_index=True, key=f"review.inter.{a.attribute}")

with explain_tab:
    if _status("explain"):
        x = result.explain
        st.caption(f"{x.explainer} on {x.n_rows} rows ({x.rows_per_second:,.0f} rows/s) · output in {x.output} · "
                   f"additivity error {x.additivity_max_error:.2e}")
        for w in x.warnings:
            st.warning(w)
        st.altair_chart(charts.importance_chart(x), key="review.importance")
        if x.group_importance:
            attrs = list(x.group_importance)
            attr = st.selectbox("Protected attribute", attrs, key="review.group_attr")
            st.altair_chart(charts.group_importance_chart(x, attr), key="review.group_importance")
        st.altair_chart(charts.waterfall_chart(x), key="review.waterfall")

st.divider()
with st.expander("Export a signed report of this version", icon=":material/picture_as_pdf:"):
    export_panel(ctx, vid, key="review.export", preview=False)
