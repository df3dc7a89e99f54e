"""Review: a version's drift, bias and explainability evidence, read when stored, computed on request.

Read widgets → :func:`governance.usecases.review.open_review` (or ``compute_evidence`` on the button) → render.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.errors import CountersignError, NotFound
from core.wording import number, words
from governance.analytics import evidence_charts
from governance.usecases.review import (
    FOUR_FIFTHS_NOTE,
    WEIGHT_NOTES,
    GateView,
    ReviewQuery,
    ReviewView,
    Upload,
    build_drift_report,
    compute_evidence,
    open_review,
)
from portal import context
from portal.charts import evidence_chart
from portal.context import SELECTED_VERSION
from portal.export import export_panel
from portal.tables import show_table
from portal.text import code, inert, inert_block
from portal.widgets import run_with_progress, untrusted_html

ctx = context.get()
upload = st.session_state.get("review.upload")  # the uploader's file, drawn below with the view's other widgets
engine = st.session_state.get("review.engine")
query = ReviewQuery(version=context.wanted("review.version", SELECTED_VERSION),
                    upload=Upload(upload.name, upload.getvalue()) if upload is not None else None, engine=engine)
compute = st.session_state.get("review.compute", False)  # the button pressed on the previous run
view: ReviewView = (run_with_progress("Computing evidence", lambda progress: compute_evidence(ctx, query, progress))
                    if compute else open_review(ctx, query))
if view.empty:
    st.info("No versions yet: sync an account on the **Accounts** page.")
    st.stop()

st.title("Review")
vid = context.picker("Version", view.choice, key="review.version", selection=SELECTED_VERSION)
if vid is None:
    st.stop()
if vid != (view.version.version_id if view.version else None):  # picked just now: the next run reads it
    st.rerun()

st.file_uploader(
    "Current data (optional): compare the reference with this file instead of the version's monitoring data",
    type=["csv", "parquet", "arrow", "feather"], key="review.upload",
)


def _error(exc: CountersignError) -> None:
    st.error(inert_block(view.for_user(str(exc))), icon=":material/error:")


if view.upload_error is not None:
    _error(view.upload_error)

if len(view.engines) > 1:  # offered only when the workspace configures another engine
    st.selectbox("Analytics engine", list(view.engines), index=list(view.engines).index(view.default_engine),
                 key="review.engine",
                 help="Where drift and bias aggregates run ([engines] in countersign.toml). Every engine returns the "
                      "same numbers; the evidence records which one computed it.")

st.button("Compute missing evidence", type="primary", disabled=not view.can_compute, key="review.compute",
          help=None if view.can_compute else "Your role may view stored evidence but not compute it.")
if view.error is not None:
    _error(view.error)
    st.stop()
version = view.version
assert version is not None


def _status(kind: str) -> bool:
    """Say where this kind's evidence came from; True when there is evidence to draw."""
    item = view.item(kind)
    if item.evidence is not None:
        ev = item.evidence
        ran = ev.inputs.get("engine") or {}
        on = (f" on {inert(ran['name'])} (query hash {code(str(ran.get('query_hash'))[:12])}…)" if ran.get("name")
              else "")
        # "computed" twice said nothing: the status is named only when it is not the computation just shown
        origin = "" if item.status == "computed" else f" · {inert(words(item.status))}"
        st.caption(f"Evidence {code(ev.evidence_id)}{origin} · computed {ev.computed_at:%Y-%m-%d %H:%M} "
                   f"UTC by {inert(ev.computed_by)}{on} · input sha256 {code(ev.input_hash[:12])}…")
        if item.status == "inherited":  # the rule the gates and the PDF apply to a copy promoted unchanged
            st.info(f"Evidence {inert(item.message)}.", icon=":material/call_split:")
        return True
    if item.status == "not_applicable":
        st.info(inert_block(item.message))
    elif item.status in ("error", "denied"):
        st.error(inert_block(view.for_user(item.message or "")))
    elif kind == "drift" and view.drift_needs_upload:
        # computing cannot help: there is no current data to compare until someone uploads a sample
        who = ("upload a current sample (CSV or Parquet) in the **Current data** box above, then press "
               "**Compute missing evidence**" if view.can_compute else
               "a data scientist or risk officer can upload a current sample (CSV or Parquet) in the "
               "**Current data** box above and compute it")
        st.info(f"{inert(vid)} has no monitoring data (no 'current' file), so there is no drift to show yet. To compare "
                f"the reference data with recent data, {who}.", icon=":material/upload_file:")
    elif isinstance(item.error, NotFound):  # an input is missing: the message says how to register it
        st.info(f"{inert(item.message)}.", icon=":material/dataset:")
    else:
        hint = " Press **Compute missing evidence**." if view.can_compute else " Ask a data scientist or risk officer."
        st.info(f"{inert(item.message)}.{hint}")
    return False


def _weighted_drift(d, sample: str) -> None:
    """The importance-weighted drift, its tier gate, and the drifted features the model relies on most."""
    shown: GateView = view.weighted_gate
    tier_name, gate = shown.tier_name, shown.result
    c1, c2 = st.columns([1, 3])
    if d.weighted_drift is None:
        c1.metric("Weighted drift", "—", help="Evidence computed before drift was weighted: compute it again.")
        return
    c1.metric("Weighted drift", f"{d.weighted_drift:.0%}",
              help="The share of the model's attribution carried by drifted features (a feature missing or "
                   "retyped in the current data counts as drifted).")
    verdict = {"pass": "passes", "fail": "FAILS"}.get(gate.status, "missing") if gate else "no limit"
    c2.metric(f"Tier {tier_name} weighted drift gate", verdict, help=gate.message if gate else
              "max_weighted_drift is not set for this tier in countersign.toml")
    how = WEIGHT_NOTES.get(d.weights_source, d.weights_source) + (f" `{d.weights_ref}`" if d.weights_ref else "")
    if gate is not None and gate.status == "fail":
        st.warning(f"{sample}{inert(d.headline)}: weighted drift {d.weighted_drift:.0%} exceeds tier {tier_name}'s "
                   f"{gate.threshold:.0%} (max_weighted_drift), so the gate FAILS. Weights: {how}.",
                   icon=":material/warning:")
    else:
        st.caption(f"{inert(d.headline)}. Weights: {how}.")


drift_tab, bias_tab, explain_tab = st.tabs(["Drift", "Bias", "Explainability"])

with drift_tab:
    if _status("drift"):
        d = view.result.drift
        tier_name, to_env, gate = view.drift_gate.tier_name, view.drift_gate.to_env, view.drift_gate.result
        # evidence on an uploaded sample is exploratory: promotion gates use only the version's registered data
        sample = ("Computed on an uploaded file, so exploratory: a promotion's gate uses only the version's "
                  "registered data. " if view.exploratory else "")
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Drifted columns", f"{len(d.drifted_columns)} of {len(d.columns)}")
        c2.metric("Drift share", f"{d.drift_share:.0%}", help=f"dataset drift at ≥ {d.drift_share_threshold:.0%}")
        c3.metric("Dataset drift", "yes" if d.dataset_drifted else "no",
                  help=f"Evidently's rule: the dataset drifted when at least {d.drift_share_threshold:.0%} of the "
                       "columns drifted. The promotion gate uses the tier's own limit.")
        verdict = {"pass": "passes", "fail": "FAILS"}.get(gate.status, "missing") if gate else "no limit"
        c4.metric(f"Tier {tier_name} drift gate", verdict, help=inert(gate.message) if gate else None)
        if gate is None:
            st.caption(f"Tier {tier_name} sets no drift limit for promotion to {to_env} (max_drift_share in "
                       "countersign.toml).")
        elif gate.status in ("pass", "fail"):
            (st.caption if gate.status == "pass" else st.warning)(
                f"{sample}Evidently calls the dataset drifted at a drift share of {d.drift_share_threshold:.0%} or "
                f"more; tier {tier_name}'s promotion gate allows at most {gate.threshold:.0%} (max_drift_share). "
                f"A drift share of {d.drift_share:.0%} {verdict} that gate."
            )
        else:
            st.caption(f"Tier {tier_name} drift gate: {inert(gate.message)}.")
        _weighted_drift(d, sample)
        for p in d.problems:  # a reference column gone, retyped or emptied: a failing finding, counted as drifted
            st.error(f"Failing finding — {inert(p.describe())}", icon=":material/report:")
        if d.index_columns:
            st.caption(f"Index columns left out (pandas' index, not data): {inert(', '.join(d.index_columns))}")
        drift_id = view.item("drift").evidence.evidence_id
        evidence_chart((drift_id, "drift"), lambda: evidence_charts.drift_chart(d), widget_key="review.drift_chart")
        show_table(
            pd.DataFrame([{"column": c.column, "type": c.column_type, "method": c.method, "score": c.score,
                           "threshold": c.threshold, "drifted": c.drifted, "PSI": c.psi,
                           "exact": c.exact, "reference rows": c.n_reference, "current rows": c.n_current}
                          for c in d.columns]),
            key="review.drift_table", column_config={"PSI": st.column_config.NumberColumn("PSI", format="%.3f")},
        )
        for label, cols in (("Missing in current data", d.missing_in_current),
                            ("Missing in reference data", d.missing_in_reference)):
            if cols:
                st.warning(f"{label}: {inert(', '.join(cols))}")
        for col, reason in d.skipped:
            st.warning(f"{inert(col)} not compared: {inert(reason)}")
        names = [c.column for c in d.columns]
        pick = st.selectbox("Column", names, index=names.index(d.drifted_columns[0]) if d.drifted_columns else 0,
                            key="review.drift_column")
        evidence_chart((drift_id, "column", pick), lambda: evidence_charts.column_chart(d.column(pick)),
                       widget_key="review.column_chart")

        st.subheader("Evidently report")
        ev = view.item("drift").evidence
        report = view.evidently_report
        if report is None and st.button("Build the Evidently report (sample ≤ 100,000 rows)", key="review.evidently"):
            try:
                report = run_with_progress("Running Evidently's DataDriftPreset",
                                           lambda progress: build_drift_report(ctx, ev.evidence_id))
            except CountersignError as exc:
                _error(exc)
        if report is not None:
            html = report.read_text(encoding="utf-8")
            st.download_button("Download the Evidently report (HTML)", html, file_name=f"{ev.evidence_id}.html",
                               mime="text/html", key="review.evidently_download")
            # the report carries column names and values from the data: it runs sandboxed, apart from the portal
            untrusted_html(html, title=f"Evidently drift report of {ev.evidence_id}", height=900)

    reported = view.result.item("drift_reported")
    if reported.evidence is not None or reported.status == "error":
        # an Evidently report the version's pipeline produced: shown as such, and what recomputing it found
        st.subheader("Reported by the pipeline")
        if reported.evidence is not None:
            st.caption(f"Evidence {code(reported.evidence.evidence_id)} · "
                       f"{reported.evidence.computed_at:%Y-%m-%d %H:%M} UTC")
            st.markdown("\n".join(f"- {inert(line)}" for line in reported.evidence.summary.lines()))
        agrees = (reported.evidence.result.get("agrees") if reported.evidence is not None else False)
        (st.success if agrees else st.info if agrees is None else st.error)(inert_block(reported.message or ""))

with bias_tab:
    if _status("bias"):
        b = view.result.bias
        st.caption(f"{b.n} scored rows · label {code(b.label)} = {inert(repr(b.positive_label))} is favourable · "
                   f"prediction {code(b.prediction)}")
        for w in b.warnings:
            st.warning(inert_block(w))
        for a in b.attributes:
            st.subheader(inert(a.attribute))
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("Parity ratio", "n/a" if a.demographic_parity_ratio is None
                      else f"{a.demographic_parity_ratio:.2f}")
            c2.metric("Four-fifths rule", "passes" if a.four_fifths_pass else "FAILS",
                      help=f"{FOUR_FIFTHS_NOTE} The promotion gate uses the tier's own min_disparate_impact.")
            c3.metric("Parity difference", f"{a.demographic_parity_difference:.3f}")
            c4.metric("Equalized odds diff.", "n/a" if a.equalized_odds_difference is None
                      else f"{a.equalized_odds_difference:.3f}")
            evidence_chart((view.item("bias").evidence.evidence_id, "bias", a.attribute),
                           partial(evidence_charts.bias_chart, b, a.attribute),
                           widget_key=f"review.bias_chart.{a.attribute}")
            show_table(pd.DataFrame([{"group": g.group, "n": g.n, "selection rate": g.selection_rate,
                                        "TPR": g.tpr, "FPR": g.fpr, "precision": g.precision,
                                        "accuracy": g.accuracy, "too small": g.small} for g in a.groups]),
                       key=f"review.bias_table.{a.attribute}",
                       column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in ("TPR", "FPR")})
            with st.expander(f"SageMaker Clarify metrics for {inert(a.attribute)} (facet = group, against the rest)"):
                show_table(pd.DataFrame(a.clarify), hide_index=None, key=f"review.clarify.{a.attribute}")
        if b.intersections:
            with st.expander("Intersections"):
                for a in b.intersections:
                    st.markdown(f"**{inert(a.attribute)}** — parity ratio "
                                f"{'n/a' if a.demographic_parity_ratio is None else f'{a.demographic_parity_ratio:.2f}'}")
                    show_table(pd.DataFrame([{"group": g.group, "n": g.n, "selection rate": g.selection_rate,
                                              "TPR": g.tpr, "FPR": g.fpr, "too small": g.small}
                                             for g in a.groups]),
                               key=f"review.inter.{a.attribute}",
                               column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in ("TPR", "FPR")})

with explain_tab:
    if _status("explain"):
        x = view.result.explain
        additivity = ("additivity not checked (the model was not run here)" if x.additivity_max_error is None
                      else f"additivity error {number(x.additivity_max_error)}")
        st.caption(f"{inert(x.explainer)} on {x.n_rows} rows ({x.rows_per_second:,.0f} rows/s) · output in "
                   f"{inert(x.output)} · {additivity}")
        for w in x.warnings:
            st.warning(inert_block(w))
        explain_id = view.item("explain").evidence.evidence_id
        evidence_chart((explain_id, "importance"), lambda: evidence_charts.importance_chart(x),
                       widget_key="review.importance")
        if x.group_importance:
            attrs = list(x.group_importance)
            attr = st.selectbox("Protected attribute", attrs, key="review.group_attr")
            evidence_chart((explain_id, "group_importance", attr),
                           lambda: evidence_charts.group_importance_chart(x, attr), widget_key="review.group_importance")
        if x.kept_rows:
            outputs = {int(lx["row"]): lx["output"] for lx in x.locals_kept}
            # keyed by the evidence: another version's (or a recomputed) explanation starts at its configured row
            row = st.selectbox("Row to explain", list(outputs),
                               key=f"review.waterfall_row.{view.item('explain').evidence.evidence_id}",
                               format_func=lambda r: f"row {r} · output {outputs[r]:.4g}",
                               help=f"The configured row (first), the rows with the highest and lowest model output "
                                    f"({inert(x.output)}) and the first rows of the sample.")
            evidence_chart((explain_id, "waterfall", str(row)), lambda: evidence_charts.waterfall_chart(x, row),
                           widget_key="review.waterfall")

st.divider()
with st.expander("Export a signed report of this version", icon=":material/picture_as_pdf:"):
    export_panel(ctx, vid, key="review.export", preview=False)
