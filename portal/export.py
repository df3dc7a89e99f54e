"""A reusable export widget: template picker, build + sign with progress, downloads (PDF, HTML, pack), a page-1 preview.

The Export page shows it for any version; the review and request pages can call :func:`export_panel` with the
version they show. Every export goes through the export use cases (:mod:`governance.usecases.export`: role check,
signature, ledger entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from core.errors import CountersignError
from core.wording import when
from governance.usecases.export import (
    SEAL,
    ExportCommand,
    build_pack,
    countersign,
    default_filename,
    export_report,
    open_export_panel,
    page_preview,
    previews_available,
)
from portal.context import PortalContext
from portal.text import inert
from portal.widgets import run_with_progress, show_error


@dataclass(frozen=True)
class _Last:
    """The newest export of this widget, kept under a session key no widget owns."""

    version_id: str
    template_id: str
    report: Any  # governance.reports.export.ReportExport
    pack: Any = None  # governance.reports.pack.AuditPack


@st.cache_data(max_entries=16, show_spinner=False)
def _preview(path: str, sha256: str) -> bytes | None:
    # keyed by the file and its sha256: a rebuilt report has a new digest, so a stale preview cannot show
    return page_preview(Path(path))


def export_panel(ctx: PortalContext, version_id: str, *, key: str = "export", preview: bool = True) -> bool:
    """Template picker, "Build and sign PDF" / "Build audit pack" buttons, downloads and a page-1 preview; whether
    this run exported something (a page that lists past exports reads them again)."""
    panel = open_export_panel(ctx)
    if panel.error is not None:
        show_error(panel.error)
        return False
    titles = {t.id: f"{t.title} (v{t.version})" for t in panel.templates}
    template_id = st.selectbox("Template", list(titles), format_func=titles.__getitem__, key=f"{key}.template")
    can = panel.can_export
    why = None if can else "Exports are signed and recorded: risk officers, auditors and admins may export."
    c1, c2 = st.columns(2)
    build = c1.button("Build and sign PDF", type="primary", disabled=not can, help=why, key=f"{key}.build",
                      icon=":material/picture_as_pdf:")
    pack = c2.button("Build audit pack", disabled=not can, help=why, key=f"{key}.pack", icon=":material/folder_zip:")
    state = f"cs.{key}.last"
    exported = False
    try:
        if build:
            report = run_with_progress(
                f"Building {template_id} for {version_id}",
                lambda progress: export_report(ctx, ExportCommand(version_id, template_id), progress),
                done_label="Report built and signed",
            )
            st.session_state[state] = _Last(version_id, template_id, report)
            exported = True
        if pack:
            result = run_with_progress(
                f"Building the audit pack of {version_id}",
                lambda progress: build_pack(ctx, ExportCommand(version_id, template_id), progress),
                done_label="Audit pack written",
            )
            st.session_state[state] = _Last(version_id, template_id, result.report, result)
            exported = True
    except CountersignError as exc:
        show_error(exc)

    last: _Last | None = st.session_state.get(state)
    if last is None or last.version_id != version_id or last.template_id != template_id:
        if not can:
            st.info("Your role may read past exports below but not build new ones.")
        return exported
    r = last.report
    role = f" ({r.signer_role})" if r.signer_role else ""
    if not r.signed:
        signer = "unsigned"
    elif r.signer_kind == SEAL:
        signer = f"sealed with the organisation's certificate **{inert(r.signer)}**{inert(role)}, which names you as the exporter"
    else:
        signer = f"signed with the certificate of **{inert(r.signer)}**{inert(role)}"
    st.success(f"{r.pages} pages, built and exported by **{inert(ctx.identity.label)}**, {signer}. sha256 `{r.sha256}` · "
               f"ledger entry {r.ledger_seq}", icon=":material/verified:")
    if r.gaps:
        with st.expander(f"{len(r.gaps)} evidence gap(s) listed in the report", icon=":material/warning:"):
            for g in r.gaps:
                st.markdown(f"- **{inert(g.section)}** / {inert(g.block)}: Evidence missing: {inert(g.what)}")
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download PDF", r.pdf, file_name=default_filename(r.version_id, r.template_id),
                       mime="application/pdf", on_click="ignore", key=f"{key}.download_pdf",
                       icon=":material/download:")
    if r.html is not None:
        d2.download_button("Download HTML", r.html, file_name=default_filename(r.version_id, r.template_id, ".html"),
                           mime="text/html", on_click="ignore", key=f"{key}.download_html",
                           icon=":material/download:",
                           help="The same report, interactive: sortable tables and charts, opens offline in any "
                                "browser. Not signed: its sha256 is in the export's ledger entry "
                                f"(`{r.html_sha256}`).")
    if last.pack is not None and last.pack.path.exists():
        d3.download_button("Download audit pack", last.pack.path.read_bytes(), file_name=last.pack.path.name,
                           mime="application/zip", on_click="ignore", key=f"{key}.download_pack",
                           icon=":material/download:")
    if preview:
        if not previews_available():
            st.caption("Page previews need poppler (Debian package poppler-utils).")
        elif r.path is not None:
            try:
                png = _preview(str(r.path), r.sha256)
            except CountersignError as exc:
                show_error(exc)
                png = None
            if png:
                st.image(png, caption="Page 1", width=420)
    return exported


def countersign_panel(ctx: PortalContext, reports: tuple[Any, ...], *, key: str = "export.countersign") -> None:
    """Pick a report exported earlier (``reports``: those kept in the workspace) and add your own approval signature
    to it (people who sign personally)."""
    if not reports:
        st.caption("No signed report of this version is kept in the workspace yet.")
        return
    verb = {"report.export": "exported", "report.countersign": "countersigned"}
    labels = {h.file: f"{h.file} · {verb[h.action]} by {h.actor} on {when(h.recorded_at)} · ledger entry {h.seq}"
              for h in reports}
    # no default: the newest export is often someone else's copy (an auditor's sealed one), not the report to sign
    file_name = st.selectbox("Report", list(labels), format_func=labels.__getitem__, key=f"{key}.file", index=None,
                             placeholder="Choose the report you reviewed")
    state = f"cs.{key}.last"
    if st.button("Countersign", key=f"{key}.go", icon=":material/draw:", disabled=file_name is None,
                 help="Adds your own approval signature after the ones the report carries; earlier signatures "
                      "stay valid, and the countersigned copy is kept next to the original."):
        try:
            st.session_state[state] = countersign(ctx, file_name)
        except CountersignError as exc:
            show_error(exc)
        else:
            st.rerun()  # the history above and the report list now hold the countersigned copy
    done = st.session_state.get(state)
    if done is not None and done.countersigned_sha256 == next(
            (h.sha256 for h in reports if h.file == file_name), None):
        signers = ", ".join(s.signer for s in done.signatures)
        st.success(f"Countersigned by **{inert(ctx.identity.label)}**: the report now carries {len(done.signatures)} "
                   f"valid signatures ({inert(signers)}). sha256 `{done.sha256}` · ledger entry {done.ledger_seq}",
                   icon=":material/verified:")
        st.download_button("Download countersigned PDF", done.pdf, file_name=done.path.name,
                           mime="application/pdf", on_click="ignore", key=f"{key}.download",
                           icon=":material/download:")
