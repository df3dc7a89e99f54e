"""Build a report PDF with reportlab platypus, byte-for-byte deterministic for the same facts and template.

The template's sections name *blocks*; each block is a function from :class:`ReportFacts` to flowables,
registered once in :data:`BLOCKS`. A block whose evidence is missing prints "Evidence missing: ..." and adds a
row to the gaps table at the front: nothing is dropped silently.

The helpers that make the flowables (:func:`para`, :func:`table`, :func:`heading`, :func:`chart_image`,
:meth:`Renderer.missing`) also leave on each one what it prints (``_cs_text``, ``_cs_table``, ``_cs_spec``), so the
HTML report (:mod:`governance.reports.html`) renders the same blocks from the same facts without a second copy of
their content.

Determinism: reportlab's invariant mode fixes the document id, and the creation date is set to the build time the
caller gives (:func:`pdf_metadata`); every other date printed comes from the facts; dictionaries are rendered in
sorted order; charts are PNGs from vl-convert, which is deterministic. The same facts, template and build time
give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents

from core.clock import naive_utc
from governance import __version__
from governance.analytics.summaries import BiasSummary, DriftSummary, ExplainSummary
from governance.changes import change_source
from governance.reports import pdf_charts as charts
from governance.reports.facts import EvidenceItem, ReportFacts
from governance.reports.templates import Section, Template

PAGE_W, PAGE_H = A4
MARGIN = 2 * cm
BODY_W = PAGE_W - 2 * MARGIN
MISSING = "Evidence missing: "

_ss = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("cs-title", parent=_ss["Title"], fontSize=22, leading=27, spaceAfter=14),
    "subtitle": ParagraphStyle("cs-subtitle", parent=_ss["Normal"], fontSize=12, leading=16, alignment=TA_CENTER),
    "h1": ParagraphStyle("cs-h1", parent=_ss["Heading1"], fontSize=15, leading=19, spaceBefore=10, spaceAfter=6),
    "h2": ParagraphStyle("cs-h2", parent=_ss["Heading2"], fontSize=11.5, leading=14, spaceBefore=8, spaceAfter=4),
    "body": ParagraphStyle("cs-body", parent=_ss["BodyText"], fontSize=9.5, leading=12.5),
    "small": ParagraphStyle("cs-small", parent=_ss["BodyText"], fontSize=7.5, leading=9.5),
    "mono": ParagraphStyle("cs-mono", parent=_ss["Code"], fontSize=6.5, leading=8, fontName="Courier"),
    "guidance": ParagraphStyle(
        "cs-guidance", parent=_ss["BodyText"], fontSize=8.5, leading=11, textColor=colors.HexColor("#444444"),
        fontName="Helvetica-Oblique",
    ),
    "missing": ParagraphStyle(
        "cs-missing", parent=_ss["BodyText"], fontSize=9.5, leading=12.5, textColor=colors.HexColor("#9c1c1c"),
        fontName="Helvetica-Bold",
    ),
    "cell": ParagraphStyle("cs-cell", parent=_ss["BodyText"], fontSize=7.5, leading=9),
    "cellhead": ParagraphStyle("cs-cellhead", parent=_ss["BodyText"], fontSize=7.5, leading=9, fontName="Helvetica-Bold"),
}

# Characters outside the standard PDF fonts' encoding, replaced so no glyph prints as a black box.
_REPLACE = {"≥": ">=", "≤": "<=", "→": "->", "←": "<-", "≠": "!=", "σ": "sigma", "✓": "yes", "✗": "no", "…": "..."}


class Missing(Exception):
    """Raised by a block when the evidence it needs does not exist."""


def clean_text(text: Any) -> str:
    """``text`` in the standard fonts' character set (what prints), before markup escaping."""
    s = "" if text is None else str(text)
    for a, b in _REPLACE.items():
        s = s.replace(a, b)
    return s.encode("cp1252", "replace").decode("cp1252")


def clean(text: Any) -> str:
    """``text`` as safe paragraph markup in the standard fonts' character set."""
    return escape(clean_text(text))


def fmt(value: Any) -> str:
    """A value as printed: 4 decimals (4 significant digits when tiny), UTC dates, JSON for containers."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1e6:
            return f"{value:,.0f}"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.4g}"
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, dt.datetime):
        # the catalog stores naive UTC; an aware value is converted so every date in the report reads as UTC
        return naive_utc(value).strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | dt.datetime | dt.date)


def _summary_rows(item: EvidenceItem) -> list[tuple[str, Any]]:
    """The scalar values of an evidence summary by name, alphabetical (what the key-value table prints)."""
    s = item.summary
    if isinstance(s, DriftSummary):
        pairs = [("dataset_drifted", s.dataset_drifted), ("drift_share", s.drift_share), ("n_columns", s.n_columns),
                 ("threshold", s.threshold), ("weighted_drift", s.weighted_drift), ("weights", s.weights_source)]
    elif isinstance(s, BiasSummary):
        pairs = [("min_disparate_impact", s.min_disparate_impact)]
    elif isinstance(s, ExplainSummary):
        pairs = [("additivity_max_error", s.additivity_max_error), ("explainer", s.explainer)]
    else:
        pairs = sorted(s.to_json().items())
    return [(k, v) for k, v in pairs if _scalar(v)]


@dataclass(frozen=True)
class Gap:
    """One piece of evidence a section needed and did not find."""

    section: str
    block: str
    what: str


@dataclass(frozen=True)
class TableContent:
    """What a table prints, kept on the reportlab table: the header, the raw cell values (printed with
    :func:`fmt`), the columns in a fixed-width font and the highlighted rows (row index → ``differs`` or
    ``location``, as the consistency block marks them)."""

    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    mono: tuple[int, ...] = ()
    marked: tuple[tuple[int, str], ...] = ()


class ChartSpec(Flowable):
    """A chart kept as its Vega-Lite spec instead of a PNG: what the HTML report embeds (never drawn in a PDF)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self._cs_spec = spec

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        return None


@dataclass
class Renderer:
    """Shared state while the story is assembled: the gaps found and the current section.

    ``png_charts`` false keeps each chart as its spec (:class:`ChartSpec`) instead of rendering a PNG: the HTML
    report draws charts in the browser.
    """

    facts: ReportFacts
    section: str = ""
    block: str = ""
    gaps: list[Gap] = field(default_factory=list)
    charts: int = 0
    png_charts: bool = True

    def missing(self, what: str) -> Paragraph:
        """The visible "Evidence missing" line for ``what`` in the current block, recorded in the gaps table."""
        self.gaps.append(Gap(self.section, self.block, what))
        return para(MISSING + what, "missing")


def para(text: Any, style: str = "body") -> Paragraph:
    """A paragraph of plain text."""
    p = Paragraph(clean(text), STYLES[style])
    p._cs_text = "" if text is None else str(text)
    p._cs_style = style
    return p


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[float] | None = None, *, mono: Sequence[int] = ()
) -> Table:
    """A wrapped table with a repeated header row; ``mono`` columns print in Courier (hashes, ids)."""
    if widths is None:
        widths = [BODY_W / len(header)] * len(header)
    kept = [tuple(row) for row in rows]
    widths = fit_words(header, [[fmt(v) for v in row] for row in kept], widths, mono)
    body: list[list[Any]] = [[_cell(h, STYLES["cellhead"], widths[i]) for i, h in enumerate(header)]]
    for row in kept:
        body.append([_cell(fmt(v), STYLES["mono"] if i in mono else STYLES["cell"], widths[i]) for i, v in enumerate(row)])
    t = Table(body, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    t._cs_table = TableContent(tuple(str(h) for h in header), tuple(tuple(row) for row in kept), tuple(mono))
    t.setStyle(
        TableStyle(
            [
                ("FONT", (0, 1), (-1, -1), STYLES["cell"].fontName, STYLES["cell"].fontSize, STYLES["cell"].leading),
                ("FONT", (0, 0), (-1, 0), STYLES["cellhead"].fontName, STYLES["cellhead"].fontSize,
                 STYLES["cellhead"].leading),
                *[("FONT", (i, 1), (i, -1), "Courier", STYLES["mono"].fontSize, STYLES["mono"].leading) for i in mono],
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf2")),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9aa3ad")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return t


CELL_PADDING = 12  # a table cell's left and right padding together (reportlab's default 6 + 6)
WIDEST_WORD_SHARE = 0.45  # a longer word (a hash, a URI) may still wrap rather than squeeze every other column


def fit_words(header: Sequence[str], cells: Sequence[Sequence[str]], widths: Sequence[float],
              mono: Sequence[int] = ()) -> list[float]:
    """Column widths that hold each column's longest word on one line, so a table never splits a word.

    Width goes to the columns that need it from the columns with room to spare; the table's total width stays the
    same. A word wider than :data:`WIDEST_WORD_SHARE` of the page body (a hash, a URI) is the exception: it may wrap.
    """
    n = len(header)
    need = []
    for i in range(n):
        style = STYLES["mono"] if i in mono else STYLES["cell"]
        words = [(w, STYLES["cellhead"]) for w in str(header[i]).split()]
        words += [(w, style) for row in cells for w in str(row[i]).split()]
        longest = max((stringWidth(clean_text(w), st.fontName, st.fontSize) for w, st in words), default=0.0)
        need.append(min(longest + CELL_PADDING + 1, BODY_W * WIDEST_WORD_SHARE))
    out = [float(w) for w in widths]
    short = {i: need[i] - out[i] for i in range(n) if need[i] > out[i]}
    spare = {j: out[j] - need[j] for j in range(n) if out[j] > need[j]}
    give = min(sum(short.values()), sum(spare.values()))
    if give <= 0:
        return out
    total_short, total_spare = sum(short.values()), sum(spare.values())
    for j, room in spare.items():
        out[j] -= give * room / total_spare
    for i, lack in short.items():
        out[i] += give * lack / total_short
    return out


def _cell(text: str, style: ParagraphStyle, width: float) -> Any:
    # A plain string is laid out far faster than a Paragraph; only text that must wrap becomes one.
    plain = clean(text)
    if "\n" not in text and stringWidth(text, style.fontName, style.fontSize) <= width - CELL_PADDING and plain == text:
        return text
    return Paragraph(plain, style)


def kv_table(pairs: Iterable[tuple[str, Any]], *, mono: bool = False) -> Table:
    """A two-column key/value table."""
    return table(("Field", "Value"), list(pairs), (BODY_W * 0.3, BODY_W * 0.7), mono=(1,) if mono else ())


def records_table(
    records: Sequence[dict[str, Any]], prefer: Sequence[str] = (), *, limit_cols: int = 8, limit_rows: int = 60
) -> Table:
    """A table of dict records: preferred keys first, then the other scalar keys in sorted order."""
    keys: list[str] = [k for k in prefer if any(k in r for r in records)]
    others = sorted({k for r in records for k, v in r.items() if _scalar(v)} - set(keys))
    keys = (keys + others)[:limit_cols]
    rows = [[r.get(k) for k in keys] for r in records[:limit_rows]]
    # Column widths follow the longest text in each column (capped), so short numbers leave room for names.
    longest = [min(max([len(k), *(len(fmt(r[i])) for r in rows)]), 40) + 3 for i, k in enumerate(keys)]
    widths = [BODY_W * n / sum(longest) for n in longest]
    if len(records) > limit_rows:
        rows.append([f"(+{len(records) - limit_rows} more rows: see the evidence JSON in the audit pack)"]
                    + [None] * (len(keys) - 1))
    return table(keys, rows, widths)


def chart_image(r: Renderer, spec: dict[str, Any], width: float = BODY_W * 0.9) -> Image | ChartSpec:
    """A chart spec as an image scaled to ``width`` points (as its spec when the renderer draws no PNGs)."""
    if not r.png_charts:
        r.charts += 1
        return ChartSpec(spec)
    png = charts.render_png(spec)
    img = Image(io.BytesIO(png))
    ratio = img.imageHeight / img.imageWidth
    img.drawWidth = width
    img.drawHeight = min(width * ratio, PAGE_H * 0.55)
    if img.drawHeight < width * ratio:  # very tall chart: keep its proportions
        img.drawWidth = img.drawHeight / ratio
    r.charts += 1
    img._cs_spec = spec
    return img


def ev_caption(item: EvidenceItem, f: ReportFacts | None = None) -> Paragraph:
    """The line citing an evidence row under a table or chart."""
    origin = ""
    if f is not None and item.version_id and item.version_id != f.version.version_id:
        origin = f" for {item.version_id}, which this version was promoted from (same artifact sha256)"
    return para(
        f"Source: evidence {item.evidence_id} ({item.kind}){origin}, computed {fmt(item.computed_at)} by "
        f"{item.computed_by or 'unknown'}; input hash {item.input_hash[:16]}, config hash {item.config_hash[:16]}.",
        "small",
    )


# ---------------------------------------------------------------------------------------------------------
# Normalising analytics results. Analytics owns their shape; these accept the usual layouts (a list of
# records, or a dict keyed by column / attribute / feature) so the report does not break on small changes.


def _records_from(value: Any, key_name: str) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [v if isinstance(v, dict) else {key_name: v} for v in value]
    if isinstance(value, dict):
        out = []
        for k in sorted(value):
            v = value[k]
            out.append({key_name: k, **v} if isinstance(v, dict) else {key_name: k, "value": v})
        return out
    return []


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def drift_records(item: EvidenceItem) -> list[dict[str, Any]]:
    """Per-column drift rows of a drift evidence result."""
    res = item.result
    for key in ("columns", "per_column", "features", "metrics"):
        if key in res:
            rows = _records_from(res[key], "column")
            if rows:
                return rows
    return []


def bias_attributes(item: EvidenceItem) -> list[tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, Any]]]:
    """(attribute, per-group rows, attribute-level scalar metrics, Clarify metrics) of a bias evidence result.

    Single attributes come first, then intersections (``gender x age_band``) when the result has them.
    """
    res = item.result
    out = []
    if res.get("attributes") is not None:
        for key in ("attributes", "intersections"):
            for a in _records_from(res.get(key) or [], "attribute"):
                name = str(_first(a, "attribute", "name") or "?")
                groups = _records_from(_first(a, "groups", "by_group", "per_group") or [], "group")
                clarify = _first(a, "clarify", "clarify_metrics") or {}
                scalars = {k: v for k, v in a.items() if _scalar(v) and k not in ("attribute", "name")}
                out.append((name, groups, scalars, clarify if isinstance(clarify, dict) else {}))
        return out
    groups = res.get("groups")
    if isinstance(groups, list):
        by: dict[str, list[dict[str, Any]]] = {}
        for g in groups:
            by.setdefault(str(g.get("attribute", "?")), []).append(g)
        for name in sorted(by):
            out.append((name, by[name], {}, {}))
    return out


def clarify_table(clarify: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Clarify metrics as (header, rows): one row per metric, one column per facet (group)."""
    if clarify and all(isinstance(v, dict) for v in clarify.values()):
        outer = sorted(clarify)
        inner = sorted({k for v in clarify.values() for k in v})
        # Clarify metric names are upper-case abbreviations (CI, DPL, DI ...): put them on the rows.
        if all(k.isupper() for k in outer) and not all(k.isupper() for k in inner):
            outer, inner = inner, outer
            return ["Metric", *outer], [[m, *(clarify[m].get(f) for f in outer)] for m in inner]
        return ["Metric", *outer], [[m, *(clarify[f].get(m) for f in outer)] for m in inner]
    return ["Metric", "Value"], [[k, clarify[k]] for k in sorted(clarify)]


def importance_records(item: EvidenceItem) -> list[dict[str, Any]]:
    """Global feature importance rows (feature, mean |SHAP|) of an explainability evidence result, largest first."""
    res = item.result
    for key in ("global", "importance", "mean_abs_shap", "global_importance", "features"):
        if key in res:
            rows = _records_from(res[key], "feature")
            for r in rows:
                if "importance" not in r:
                    r["importance"] = _first(r, "mean_abs_shap", "value", "mean_abs")
            rows = [r for r in rows if isinstance(r.get("importance"), int | float)]
            return sorted(rows, key=lambda r: (-float(r["importance"]), str(r.get("feature"))))
    return []


def gate_records(f: ReportFacts) -> tuple[list[dict[str, Any]], str | None]:
    """Gate verdicts: the policy evaluated as of the report date, else those a promotion request recorded."""
    if f.gates:
        return [dict(g) for g in f.gates], f.gates_note
    for req in reversed(f.requests):
        payload = req.get("payload")
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                payload = None
        if not isinstance(payload, dict):
            continue
        checklist = payload.get("checklist")
        gates = (checklist.get("results") if isinstance(checklist, dict) else None) or payload.get("gates")
        if gates:
            return _records_from(gates, "gate"), f"promotion request {req['request_id']}"
    return [], None


def _verdict(row: dict[str, Any]) -> str:
    v = _first(row, "verdict", "status", "passed", "ok")
    if isinstance(v, bool):
        return "PASS" if v else "FAIL"
    return str(v).upper() if v is not None else "?"


# ---------------------------------------------------------------------------------------------------------
# Blocks. Each returns flowables or raises Missing(what) when it has nothing to show.

BlockFn = Callable[[ReportFacts, Renderer], list[Flowable]]


@dataclass(frozen=True)
class Block:
    """A unit of report content: a title, a renderer and what evidence it needs (for docs and gaps)."""

    title: str
    render: BlockFn
    needs: str


def b_identity(f: ReportFacts, r: Renderer) -> list[Flowable]:
    v = f.version
    return [
        kv_table(
            [
                ("Model", v.model),
                ("Version id", v.version_id),
                ("Version number", v.version),
                ("Account / environment", f"{v.account} / {v.environment}"),
                ("Registry reference", v.source_ref),
                ("Approval status", v.approval_status),
                ("Created", f"{fmt(v.created_at)} by {v.created_by or 'unknown'}"),
                ("Framework / image", f"{v.framework or '-'} / {v.image or '-'}"),
                ("Artifact", v.artifact_uri),
                ("Risk tier", f.tier),
            ]
        )
    ]


def b_provider(f: ReportFacts, r: Renderer) -> list[Flowable]:
    owner = f.model.owner or f.model_config.get("owner")
    if not owner:
        raise Missing(f"accountable owner of model {f.model.name} (set [models.{f.model.name}] owner)")
    return [kv_table([("Provider / organisation", f.workspace_name), ("Accountable owner", owner),
                      ("Developer of this version", f.version.created_by or "unknown")])]


def b_intended_use(f: ReportFacts, r: Renderer) -> list[Flowable]:
    content = (f.card or {}).get("content", {})
    use = f.model.intended_use or f.model_config.get("intended_use") or _first(
        content, "intended_uses", "intended_use", "purpose"
    )
    if not use:
        raise Missing("intended use of the model (model card or [models] intended_use)")
    out = [para(use if isinstance(use, str) else fmt(use))]
    if f.model.description:
        out.append(para(f.model.description))
    return out


def b_model_card(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.card or not f.card.get("content"):
        raise Missing(f"model card for {f.model.name}")
    content = f.card["content"]
    pairs = [(k.replace("_", " "), content[k]) for k in sorted(content)]
    return [kv_table(pairs), para(f"Card {f.card['card_id']} (status {f.card.get('status') or '-'}), "
                                  f"updated {fmt(f.card.get('updated_at'))}.", "small")]


def b_lineage(f: ReportFacts, r: Renderer) -> list[Flowable]:
    rows = [(v.version_id, v.environment, v.approval_status, v.created_at, v.artifact_sha256) for v in f.lineage]
    out: list[Flowable] = [
        para("The version and the versions it was promoted from, newest first:"),
        table(("Version", "Environment", "Status", "Created", "Artifact sha256"), rows,
              (BODY_W * 0.25, BODY_W * 0.1, BODY_W * 0.12, BODY_W * 0.16, BODY_W * 0.37), mono=(4,)),
    ]
    if f.descendants:
        out.append(para("Promoted onward to: " + ", ".join(f.descendants)))
    return out


def b_lineage_changes(f: ReportFacts, r: Renderer) -> list[Flowable]:
    rows = [(v.version_id, v.created_at, v.modified_at, v.approval_status, v.approval_description) for v in f.peers]
    if len(rows) <= 1 and not f.requests:
        raise Missing("lifecycle history: no earlier or later version of this lineage and no promotion request")
    out: list[Flowable] = [table(("Version", "Created", "Modified", "Status", "Status note"), rows)]
    if f.requests:
        out.append(Spacer(1, 4))
        out.append(records_table(f.requests, ("request_id", "version_id", "from_env", "to_env", "requester",
                                              "status", "created_at", "execution_state")))
    return out


def b_registry_history(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.history:
        raise Missing(f"registry history: no sync has recorded a state of {f.version.version_id} since history "
                      "began (run countersign sync)")
    rows = [(h.get("valid_from"), h.get("valid_to") or "still", h.get("environment"), h.get("approval_status"),
             _labels_text(h), _seen_by(h), h.get("sync_id"), h.get("ledger_seq"),
             h.get("request_id")) for h in f.history]
    out: list[Flowable] = [
        para("Each state of the version as the registry showed it, from when to when (UTC). 'Seen by' says what "
             "recorded the change and how sure its time is: 'sync (inferred)', the registry's own modification time "
             "read by a sync; 'sync (observed)', the start of the sync that saw it; 'event (exact)', a registry "
             "event's own time; 'cloudtrail (exact)' or 'lifecycle action (exact)', the registry's record of the "
             "call, read by a backfill (with who made it). A label marked '(serving)' is the one its account maps "
             "to the environment (an MLflow alias, a ZenML stage): holding it, the version was the one in use "
             "there."),
        table(("From", "To", "Environment", "Approval", "Labels", "Seen by", "Sync", "Ledger", "Request"), rows,
              mono=(6,)),
    ]
    if f.history_deployments:
        out.append(Spacer(1, 4))
        out.append(table(("Endpoint", "Variant", "Weight", "Status", "From", "To", "Seen by"),
                         [(d.get("endpoint"), d.get("variant"), d.get("weight"), d.get("status"), d.get("valid_from"),
                           d.get("valid_to") or "still", _seen_by(d)) for d in f.history_deployments]))
    if f.history_gaps:
        out.append(Spacer(1, 4))
        out.append(para("Not observed (the registry's state in these periods is unknown):"))
        out.append(table(("Account", "From", "To", "Reason", "Detail"),
                         [(g.get("account"), g.get("gap_from"), g.get("gap_to") or "still", g.get("reason"),
                           g.get("detail")) for g in f.history_gaps]))
    return out


def _seen_by(row: dict[str, Any]) -> str:
    """A history row's source and confidence, and who made the change when the record says."""
    who = row.get("changed_by")
    return change_source(row) + (f", by {str(who).rsplit('/', 1)[-1]}" if isinstance(who, str) and who else "")


def _load_list(value: Any) -> list[str]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return [str(x) for x in loaded or []]


def _labels_text(state: dict[str, Any]) -> str:
    serving = set(state.get("serving_labels") or ())
    return ", ".join(f"{x} (serving)" if x in serving else x for x in _load_list(state.get("labels")))


def _binding_verdict(d: dict[str, Any]) -> str:
    if d.get("reason"):
        return f"FLAGGED: {d['reason']}"
    if d.get("request_id") and d.get("approved_sha256"):
        return f"approved in Countersign ({d['request_id']}); artifact sha256 {d['approved_sha256'][:12]}… as approved"
    if d.get("request_id"):
        return f"approved in Countersign ({d['request_id']}); the approval bound no artifact digest"
    return "approved in the registry; Countersign's sign-off is required in the last environment only"


def b_deployments(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.deployments and not f.in_use:
        return [para(f"No deployment of {f.model.name} is recorded in any synced account, on an endpoint or by a "
                     "registry label.")]
    out: list[Flowable] = []
    if f.deployments:
        rows = [(d.get("endpoint"), d.get("environment"), d.get("account"), d.get("version_id"), d.get("status"),
                 d.get("approval_status")) for d in f.deployments]
        out.append(table(("Endpoint", "Environment", "Account", "Serves version", "Status", "Version approval"), rows))
    flagged = [d for d in f.in_use if d.get("reason")]
    out += [Spacer(1, 4), para(
        "The binding check: every version in use (on an endpoint in service, or holding the registry label its "
        "account maps to its environment) must have been approved through Countersign into the last environment, "
        "and its artifact must still be the one the approval bound (sha256 frozen with the request, read from the "
        f"ledger). {len(flagged)} of {len(f.in_use)} version(s) in use fail it as of this report."
        if f.in_use else "No version of the model is in use as of this report.")]
    if f.in_use:
        out.append(table(("Version", "Environment", "In use", "Binding check"),
                         [(d["version_id"], d["environment"], d["how"], _binding_verdict(d)) for d in f.in_use],
                         (BODY_W * 0.24, BODY_W * 0.1, BODY_W * 0.26, BODY_W * 0.4)))
    return out


def b_inventory(f: ReportFacts, r: Renderer) -> list[Flowable]:
    m = f.model
    pairs = [("Model", m.name), ("Owner", m.owner or f.model_config.get("owner")), ("Risk tier", f.tier),
             ("Description", m.description), ("Versions in this lineage", len(f.peers))]
    pairs += [(f"tag: {k}", m.tags[k]) for k in sorted(m.tags)]
    return [kv_table(pairs)]


def b_development(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.run:
        raise Missing(f"training run record for {f.version.version_id} (no run linked in the registry)")
    run = f.run
    out: list[Flowable] = [kv_table([("Run", run.get("run_id")), ("Kind", run.get("kind")), ("Name", run.get("name")),
                                     ("Status", run.get("status")), ("Started", run.get("started_at")),
                                     ("Ended", run.get("ended_at")), ("Experiment", run.get("experiment"))])]
    params = run.get("params") or {}
    if params:
        out += [para("Hyper-parameters", "h2"), table(("Parameter", "Value"), [(k, params[k]) for k in sorted(params)])]
    metrics = run.get("metrics") or {}
    if metrics:
        out += [para("Training metrics", "h2"), table(("Metric", "Value"), [(k, metrics[k]) for k in sorted(metrics)])]
    return out


def b_data(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.version.data_uris:
        raise Missing(f"dataset locations of {f.version.version_id} (reference / validation / current)")
    rows = [(k, f.version.data_uris[k], f.datasets.get(k, "-"), f.dataset_sources.get(k, "-"))
            for k in sorted(f.version.data_uris)]
    out: list[Flowable] = [table(("Dataset", "Location", "sha256", "Hashed by"), rows,
                                 (BODY_W * 0.12, BODY_W * 0.33, BODY_W * 0.37, BODY_W * 0.18), mono=(2,))]
    cfg = f.model_config
    if cfg.get("label") or cfg.get("protected_attributes"):
        out.append(para(f"Label column: {cfg.get('label') or '-'} (positive value {cfg.get('positive_label') or '-'}); "
                        f"protected attributes: {', '.join(cfg.get('protected_attributes') or ()) or 'none declared'}."))
    return out


def b_human_oversight(f: ReportFacts, r: Renderer) -> list[Flowable]:
    n = f.policy.get("approvals_required", 1)
    return [para(
        f"Promotion of a {f.tier}-tier version requires {n} approval(s) by distinct risk officers. Four eyes: an "
        f"approver is neither the requester nor the creator of the version. Failing policy gates block approval "
        f"unless a risk officer records a risk acceptance with a justification. Every request, decision and export "
        f"is a hash-chained ledger entry; approvals recorded for this version are listed under approvals."
    )]


def b_performance(f: ReportFacts, r: Renderer) -> list[Flowable]:
    with_metrics = [v for v in f.peers if v.metrics] or ([f.version] if f.version.metrics else [])
    if not with_metrics:
        raise Missing(f"performance metrics of {f.version.version_id} (none registered)")
    names = sorted({k for v in with_metrics for k in v.metrics})
    rows = [[n, *(v.metrics.get(n) for v in with_metrics)] for n in names]
    header = ["Metric", *(f"{v.environment} v{v.version}" for v in with_metrics)]
    out: list[Flowable] = [para("Registered metrics of this version and of the same lineage in other environments:"),
                           table(header, rows)]
    mins, maxs = f.policy.get("min_metrics") or {}, f.policy.get("max_metrics") or {}
    if mins or maxs:
        lim = [(k, ">=", mins[k], f.version.metrics.get(k)) for k in sorted(mins)]
        lim += [(k, "<=", maxs[k], f.version.metrics.get(k)) for k in sorted(maxs)]
        out += [Spacer(1, 4), table(("Metric", "Rule", "Threshold", "This version"), lim)]
    return out


def b_group_accuracy(f: ReportFacts, r: Renderer) -> list[Flowable]:
    item = f.evidence.get("bias")
    if item is None:
        raise Missing(f"accuracy per group: {f.evidence_notes.get('bias', 'no bias evidence')}")
    out: list[Flowable] = []
    for name, groups, _scalars, _clarify in bias_attributes(item):
        if groups:
            out += [para(f"Attribute {name}", "h2"),
                    records_table(groups, ("group", "n", "count", "accuracy", "tpr", "fpr", "precision",
                                           "selection_rate"))]
    if not out:
        raise Missing(f"per-group metrics in bias evidence {item.evidence_id}")
    return [*out, ev_caption(item, f)]


def b_bias(f: ReportFacts, r: Renderer) -> list[Flowable]:
    item = f.evidence.get("bias")
    if item is None:
        raise Missing(f"bias analysis: {f.evidence_notes.get('bias', 'no bias evidence')}")
    threshold = f.policy.get("min_disparate_impact") or 0.8
    attrs = bias_attributes(item)
    out: list[Flowable] = []
    summary = _summary_rows(item)
    if summary:
        out.append(kv_table(summary))
    rows = []
    for name, groups, scalars, _clarify in attrs:
        ratio = _first(scalars, "demographic_parity_ratio", "disparate_impact", "di", "four_fifths_ratio")
        if ratio is None and groups:
            rates = [g.get("selection_rate") for g in groups if isinstance(g.get("selection_rate"), int | float)]
            ratio = (min(rates) / max(rates)) if rates and max(rates) > 0 else None
        diff = _first(scalars, "demographic_parity_difference", "dp_difference")
        eod = _first(scalars, "equalized_odds_difference", "eo_difference")
        verdict = "-" if ratio is None else ("PASS" if ratio >= threshold else "FAIL")
        rows.append((name, ratio, diff, eod, verdict))
    if rows:
        out += [para(f"Four-fifths rule (selection-rate ratio >= {fmt(threshold)}):"),
                table(("Attribute", "Selection-rate ratio", "Parity difference", "Equalized odds diff.", "Verdict"),
                      rows)]
    singles = [str(_first(a, "attribute", "name")) for a in _records_from(item.result.get("attributes") or [], "attribute")][:3]
    specs = [s for s in (charts.analytics_chart("bias_chart", item.result, name) for name in singles) if s]
    spec = None
    if not specs:
        frame = pd.DataFrame(
            [{"group": f"{name}={g.get('group')}", "selection_rate": float(g["selection_rate"]), "attribute": name}
             for name, groups, _s, _c in attrs for g in groups if isinstance(g.get("selection_rate"), int | float)]
        )
        if not frame.empty:
            spec = charts.bar_spec(frame, x="selection_rate", y="group", color="attribute",
                                   title="Selection rate by group", x_title="selection rate")
    if spec is not None:
        specs = [spec]
    out += [chart_image(r, s, BODY_W * 0.8) for s in specs]
    if not out:
        raise Missing(f"bias metrics in evidence {item.evidence_id}")
    warnings = _first(item.result, "warnings", "small_groups")
    if warnings:
        out.append(para("Warnings: " + fmt(warnings), "small"))
    return [*out, ev_caption(item, f)]


def b_clarify(f: ReportFacts, r: Renderer) -> list[Flowable]:
    item = f.evidence.get("bias")
    if item is None:
        raise Missing(f"SageMaker Clarify metrics: {f.evidence_notes.get('bias', 'no bias evidence')}")
    out: list[Flowable] = [para(
        "Per facet (group) against the rest: pre-training CI, DPL, KL, JS, LP, TVD, KS; post-training DPPL, DI, "
        "DCA, DCR, RD, SD, DAR, DRR, AD, TE, as defined by SageMaker Clarify.", "small")]
    for name, _groups, _scalars, clarify in bias_attributes(item):
        if not clarify:
            continue
        header, rows = clarify_table(clarify)
        out.append(para(f"Attribute {name}", "h2"))
        # Many facets (intersections) do not fit one table width: print them eight at a time.
        for start in range(1, len(header), 8):
            cols = [0, *range(start, min(start + 8, len(header)))]
            out.append(table([header[c] for c in cols], [[r[c] for c in cols] for r in rows]))
    if len(out) == 1:
        raise Missing(f"Clarify metrics (CI, DPL, DI, ...) in bias evidence {item.evidence_id}")
    return [*out, ev_caption(item, f)]


def b_explain(f: ReportFacts, r: Renderer) -> list[Flowable]:
    item = f.evidence.get("explain")
    if item is None:
        raise Missing(f"SHAP feature importance: {f.evidence_notes.get('explain', 'no explainability evidence')}")
    rows = importance_records(item)
    if not rows:
        raise Missing(f"global importance values in explainability evidence {item.evidence_id}")
    spec = charts.analytics_chart("importance_chart", item.result)
    if spec is None:
        frame = pd.DataFrame([{"feature": str(x["feature"]), "importance": float(x["importance"])} for x in rows[:20]])
        spec = charts.bar_spec(frame, x="importance", y="feature", title="Global importance (mean |SHAP|)",
                               x_title="mean |SHAP value|")
    method = _first(item.result, "explainer", "method") or (
        item.summary.explainer if isinstance(item.summary, ExplainSummary) else None)
    return [
        para(f"Explainer: {method or 'not recorded'}. Ten most important features:"),
        table(("Feature", "Mean |SHAP|"), [(x["feature"], x["importance"]) for x in rows[:10]],
              (BODY_W * 0.6, BODY_W * 0.4)),
        chart_image(r, spec, BODY_W * 0.8),
        ev_caption(item, f),
    ]


def b_drift(f: ReportFacts, r: Renderer) -> list[Flowable]:
    item = f.evidence.get("drift")
    if item is None:
        raise Missing(f"data drift analysis: {f.evidence_notes.get('drift', 'no drift evidence')}")
    rows = drift_records(item)
    out: list[Flowable] = []
    summary = _summary_rows(item)
    if summary:
        out.append(kv_table(summary))
    out += _drift_findings(item)
    if rows:
        out += [Spacer(1, 4), records_table(rows, ("column", "method", "stattest", "score", "statistic", "value",
                                                    "threshold", "psi", "drifted", "drift_detected"))]
    spec = charts.analytics_chart("drift_chart", item.result)
    if spec is None and rows:
        frame = pd.DataFrame(
            [{"column": str(x.get("column")), "score": float(v), "drifted": str(bool(_first(x, "drifted", "drift_detected")))}
             for x in rows if isinstance(v := _first(x, "score", "statistic", "value", "psi"), int | float)]
        )
        if not frame.empty:
            spec = charts.bar_spec(frame, x="score", y="column", color="drifted", title="Drift score by column")
    if spec is not None:
        out.append(chart_image(r, spec, BODY_W * 0.8))
    if not out:
        raise Missing(f"per-column drift results in evidence {item.evidence_id}")
    return [*out, ev_caption(item, f)]


def _drift_findings(item: EvidenceItem) -> list[Flowable]:
    """The drift that matters in words: the heaviest drifted features, how the weights were found, failing findings."""
    s = item.summary
    if not isinstance(s, DriftSummary) or s.weighted_drift is None:
        return []
    from governance.analytics.summaries import WEIGHT_NOTES

    how = WEIGHT_NOTES.get(s.weights_source or "equal", s.weights_source) + (f" {s.weights_ref}" if s.weights_ref else "")
    out = [para(f"Importance-weighted drift {s.weighted_drift:.2f} (weights: {how}): {s.headline}.")]
    if s.problems:
        out.append(para("Failing findings (counted as drifted): " + "; ".join(s.problems) + "."))
    return out


def _monitoring_gates(f: ReportFacts) -> list[Flowable]:
    """The monitoring gates (drift, weighted drift, fairness) as the policy judges the newest evidence."""
    from governance.triggered import BREACH_GATES

    rows = [g for g in f.gates if g.get("gate") in BREACH_GATES]
    if not rows:
        return []
    failing = [g for g in rows if _verdict(g) == "FAIL"]
    text = "; ".join(f"{g['gate']} {_verdict(g)}" for g in rows)
    out = [para(f"Monitoring gates of tier {f.tier} on the newest evidence: {text}.")]
    out += [para(f"{g['gate']} FAILS: {g.get('message')}") for g in failing]
    return out


def _triggered(f: ReportFacts) -> list[Flowable]:
    """The re-validations monitoring breaches or cumulative change started."""
    if not f.triggered:
        return []
    return [para("Triggered reviews (a re-validation due from the day a breach or cumulative change started it, "
                 "answered by the next periodic review):"),
            table(("Triggered", "Trigger", "Kind", "Reason", "Status"),
                  [(t["triggered_at"], t["trigger_id"], t.get("gate") or t["kind"], t["reason"],
                    "open: re-validation due" if t["open"] else "answered") for t in f.triggered],
                  (BODY_W * 0.13, BODY_W * 0.17, BODY_W * 0.12, BODY_W * 0.43, BODY_W * 0.15))]


def b_monitoring(f: ReportFacts, r: Renderer) -> list[Flowable]:
    current = f.version.data_uris.get("current")
    max_age = f.policy.get("evidence_max_age_days")
    out: list[Flowable] = [para(
        "Post-market monitoring compares the production input distribution (monitoring data capture) with the "
        "reference data per column, computes the dataset drift share, and re-runs the policy gates before any "
        f"further promotion. Evidence older than {max_age or 'the configured'} days is recomputed "
        "before a decision."
    )]
    if not current:
        out.append(r.missing(f"monitoring data (a 'current' dataset) for {f.version.version_id}"))
    else:
        out.append(para(f"Monitoring data: {current}"))
    drift = f.evidence.get("drift")
    if drift is not None:
        out.append(para(f"Latest drift evidence {drift.evidence_id} computed {fmt(drift.computed_at)}; "
                        f"drift share limit for tier {f.tier}: {fmt(f.policy.get('max_drift_share'))}; "
                        f"importance-weighted drift limit: {fmt(f.policy.get('max_weighted_drift'))}."))
        out += _drift_findings(drift)
    return [*out, *_monitoring_gates(f), *_triggered(f)]


def b_limitations(f: ReportFacts, r: Renderer) -> list[Flowable]:
    content = (f.card or {}).get("content", {})
    lim = _first(content, "limitations", "known_limitations", "caveats", "risks", "ethical_considerations")
    out: list[Flowable] = []
    if lim:
        out.append(para(lim if isinstance(lim, str) else fmt(lim)))
    else:
        out.append(r.missing("documented limitations (model card field 'limitations')"))
    findings = []
    rows, _src = gate_records(f)
    findings += [f"gate {x.get('gate') or x.get('name')} failed" for x in rows if _verdict(x) in ("FAIL", "FAILED")]
    drift = f.evidence.get("drift")
    if drift is not None:
        drifted = [str(x.get("column")) for x in drift_records(drift) if _first(x, "drifted", "drift_detected") is True]
        if drifted:
            findings.append("drift detected in " + ", ".join(drifted))
    if findings:
        out.append(para("Foreseeable risks shown by the evidence: " + "; ".join(findings) + "."))
    return out


def b_gates(f: ReportFacts, r: Renderer) -> list[Flowable]:
    rows, source = gate_records(f)
    if not rows and f.gates_evaluated:  # a policy choice, not missing evidence: say so
        return [para(f"No policy gate applies ({f.gates_note}): the tier sets none for this step.")]
    if not rows:
        raise Missing(f"policy gate results for {f.version.version_id} ({f.gates_note})")
    recs = [{**{k: v for k, v in x.items() if k not in ("status", "passed", "ok")}, "verdict": _verdict(x)}
            for x in rows]
    return [records_table(recs, ("gate", "name", "verdict", "message", "threshold", "observed", "value")),
            para(f"Source: {source}.", "small")]


def b_policy(f: ReportFacts, r: Renderer) -> list[Flowable]:
    pairs = [(k, f.policy[k]) for k in sorted(f.policy) if f.policy[k] not in (None, {}, (), [])]
    return [para(f"Policy of risk tier '{f.tier}' in force when this report was built:"), kv_table(pairs)]


def b_policy_reference(f: ReportFacts, r: Renderer) -> list[Flowable]:
    return [para(f"Risk tier {f.tier}: {f.policy.get('approvals_required', 1)} approval(s) required; "
                 f"thresholds as listed in the appendix (policy in force).")]


def _decision_rows(decisions: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(d.get("created_at"), d.get("actor"), d.get("kind"), d.get("request_id"),
             d.get("comment") or _payload(d).get("justification"), d.get("ledger_hash")) for d in decisions]


def b_approvals(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.requests and not f.decisions:
        raise Missing(f"approval record: no promotion request or decision for {f.version.version_id}")
    out: list[Flowable] = []
    for req in f.requests:
        out.append(para(f"Request {req['request_id']}: {req.get('version_id')} {req.get('from_env')} -> "
                        f"{req.get('to_env')}, requested by {req.get('requester')} on {fmt(req.get('created_at'))}, "
                        f"status {req.get('status')}. Reason: {req.get('reason') or '-'}"))
        if _payload(req).get("skip"):
            out.append(para(f"Skips environments: {_payload(req).get('path') or _payload(req)['skip']}; the tier needs "
                            f"{_payload(req).get('tier_approvals_required')}, this request "
                            f"{_payload(req).get('approvals_required')} approvals.", "small"))
        checklist = _payload(req).get("checklist")
        if isinstance(checklist, dict) and checklist.get("results"):
            out.append(para(f"Gate checklist the approvers saw (evaluated {fmt(checklist.get('evaluated_at'))}):",
                            "small"))
            out.append(table(("Gate", "Status", "Message"),
                             [(g.get("gate"), _verdict(g), g.get("message")) for g in checklist["results"]],
                             (BODY_W * 0.18, BODY_W * 0.12, BODY_W * 0.7)))
        out += _decided(f, req["request_id"])
    if f.decisions:
        out.append(table(("When", "Who", "Decision", "Request", "Comment", "Ledger entry hash"),
                         _decision_rows(f.decisions),
                         (BODY_W * 0.13, BODY_W * 0.17, BODY_W * 0.1, BODY_W * 0.12, BODY_W * 0.2, BODY_W * 0.28),
                         mono=(5,)))
    else:
        out.append(r.missing("no approval or rejection decision recorded yet"))
    return out


def _decided(f: ReportFacts, request_id: str) -> list[Flowable]:
    """What the newest decision on the request saw (frozen), then, labelled apart, what changed since."""
    view = next((v for v in f.decided if v.request_id == request_id), None)
    if view is None:
        return []
    snap = view.snapshot
    out: list[Flowable] = [
        para(f"As decided: what {snap.actor} saw when the request was {snap.kind}d on {fmt(snap.decided_at)} "
             f"(policy version {snap.policy_version or 'not recorded'}):", "small"),
        table(("Gate", "Status", "Message", "Evidence"),
              [(g.gate, g.status.upper(), g.message, ", ".join(g.evidence_ids) or "-") for g in snap.gates],
              (BODY_W * 0.14, BODY_W * 0.1, BODY_W * 0.5, BODY_W * 0.26), mono=(3,)),
    ]
    if snap.risk_acceptances:
        out.append(para("Risk acceptances in force then: " + "; ".join(
            f"{', '.join(a.gates)} by {a.actor} until {str(a.expires_at)[:10]}" for a in snap.risk_acceptances),
            "small"))
    out.append(para("Changed since the decision (as of this report): "
                    + ("; ".join(view.changes) if view.changes else "nothing"), "small"))
    return out


def _payload(d: dict[str, Any]) -> dict[str, Any]:
    payload = d.get("payload")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = {"text": payload}
    return payload if isinstance(payload, dict) else {}


def b_risk_acceptances(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.requests:
        raise Missing(f"risk acceptance record: no promotion request for {f.version.version_id}")
    acc = [d for d in f.decisions if "accept" in str(d.get("kind", "")).lower() or "risk" in str(d.get("kind", ""))]
    if not acc:
        return [para("No risk acceptance was recorded: no failing gate was accepted for this version.")]
    out: list[Flowable] = []
    for d in acc:
        payload = _payload(d)
        out.append(kv_table([
            ("Request", d.get("request_id")),
            ("Accepted by", d.get("actor")),
            ("When", d.get("created_at")),
            ("Gates accepted", ", ".join(map(str, payload.get("gates") or [])) or "-"),
            ("Justification", payload.get("justification") or d.get("comment")),
            ("Expires", d.get("expires_at") or payload.get("expires_at")),
            ("Follow-up due", payload.get("follow_up") or d.get("expires_at") or payload.get("expires_at")),
            ("Waits for evidence", ", ".join(f"{g}: {k}" for g, k in sorted((payload.get("awaits") or {}).items()))
             or "-"),
            ("Ledger entry hash", d.get("ledger_hash")),
        ]))
        out.append(Spacer(1, 4))
    return out


def b_evidence_log(f: ReportFacts, r: Renderer) -> list[Flowable]:
    if not f.evidence:
        raise Missing(f"test log: no evidence computed for {f.version.version_id}")
    rows = [(e.kind, e.evidence_id, e.computed_at, e.computed_by, e.input_hash) for _k, e in sorted(f.evidence.items())]
    return [para("Validation and test runs, dated and attributed to the person who ran them; this report's "
                 "signature covers the log."),
            table(("Test", "Evidence id", "Run at", "Run by", "Input hash"), rows,
                  (BODY_W * 0.1, BODY_W * 0.22, BODY_W * 0.16, BODY_W * 0.2, BODY_W * 0.32), mono=(1, 4))]


def b_cybersecurity(f: ReportFacts, r: Renderer) -> list[Flowable]:
    v = f.version
    if not v.artifact_sha256:
        raise Missing(f"sha256 of the model artifact of {v.version_id}")
    return [para(
        "The model artifact is identified by its sha256 and loaded only through a reviewed allow-list of types "
        "(skops) or native formats; pickle and joblib are refused because loading them runs code. Reports are "
        "signed (PAdES) and the ledger is hash-chained with signed checkpoints outside the database."
    ), kv_table([("Artifact", v.artifact_uri), ("Artifact sha256", v.artifact_sha256)], mono=True)]


def _bound_rows(f: ReportFacts) -> list[tuple[Any, ...]]:
    """Per request of the version: what its ledger entries alone say (state, approvals counted, the artifact digest
    bound) and whether the catalog's cached state agrees."""
    from governance.ledger import Entry
    from governance.ledger.requests import replay
    from governance.ledger.subjects import request_of

    entries: dict[str, list[Entry]] = {}
    for e in f.ledger:
        rid = request_of(e["subject"] or "")
        if rid is not None:
            payload = e["payload"] if isinstance(e["payload"], dict) else json.loads(e["payload"])
            entries.setdefault(rid, []).append(Entry(e["seq"], e["recorded_at"], e["actor"], e["action"],
                                                     e["subject"], payload, e["prev_hash"], e["hash"]))
    approvers = {}
    for d in f.decisions:
        if d["kind"] == "approve":
            approvers.setdefault(d["request_id"], set()).add(str(d["actor"]).lower())
    rows = []
    for req in f.requests:
        truth = replay(req["request_id"], entries.get(req["request_id"], []))
        if truth is None:
            rows.append((req["request_id"], "not in the ledger", "", "", "no"))
            continue
        agrees = truth.status == req["status"] and approvers.get(req["request_id"], set()) == {
            a.lower() for a in truth.approvers}
        rows.append((req["request_id"], truth.status, f"{len(truth.approvals)} of {truth.approvals_required}: "
                     + (", ".join(truth.approvers) or "none"), truth.artifact_sha256 or "none bound",
                     "yes" if agrees else "NO"))
    return rows


def b_ledger(f: ReportFacts, r: Renderer) -> list[Flowable]:
    out: list[Flowable] = []
    bound = _bound_rows(f)
    if bound:
        out += [para("What the ledger binds: each request's state and approvals as its ledger entries record them "
                     "(approval and execution count these, not the catalog's status), the artifact sha256 the request "
                     "froze (every approval and the execution re-read the bytes against it), and whether the catalog "
                     "agrees."),
                table(("Request", "State in the ledger", "Approvals counted", "Artifact sha256 bound",
                       "Catalog agrees"), bound,
                      (BODY_W * 0.17, BODY_W * 0.12, BODY_W * 0.27, BODY_W * 0.34, BODY_W * 0.1), mono=(3,))]
    if f.ledger:
        out.append(table(("Seq", "Recorded", "Actor", "Action", "Subject", "Entry hash"),
                         [(e["seq"], e["recorded_at"], e["actor"], e["action"], e["subject"], e["hash"]) for e in f.ledger],
                         (BODY_W * 0.06, BODY_W * 0.14, BODY_W * 0.18, BODY_W * 0.13, BODY_W * 0.17, BODY_W * 0.32),
                         mono=(5,)))
    else:
        out.append(r.missing(f"ledger entries about {f.version.version_id} or its requests"))
    if f.checkpoint:
        cp = f.checkpoint
        pairs = [("File", cp.file), ("File sha256", cp.sha256)]
        pairs += [(k, cp.content[k]) for k in sorted(cp.content) if _scalar(cp.content[k])]
        out += [para("Newest signed ledger checkpoint:", "h2"), kv_table(pairs, mono=True)]
    else:
        out.append(r.missing("signed ledger checkpoint (run 'countersign ledger checkpoint')"))
    return out


def b_periodic_review(f: ReportFacts, r: Renderer) -> list[Flowable]:
    vid, every = f.version.version_id, f.policy.get("review_every_days")
    out: list[Flowable] = [para(
        "A deployed version is reviewed again on a cadence set by its risk tier: evidence refreshed on the newest "
        "monitoring data, the gates re-evaluated, and an outcome (continue, restrict, retire) recorded with the "
        f"reviewer's comment in the ledger. Tier {f.tier}: "
        + (f"every {every} days." if every else "no review cadence (review_every_days) is set."))]
    if f.reviews:
        out.append(table(("Reviewed", "Reviewer", "Outcome", "Comment", "Evidence cited", "Ledger entry hash"),
                         [(x["reviewed_at"], x["reviewer"], x["outcome"], x["comment"],
                           ", ".join(f"{k}: {v.get('evidence_id') or v.get('status')}"
                                     for k, v in sorted(x["evidence"].items())), x["ledger_hash"]) for x in f.reviews],
                         (BODY_W * 0.12, BODY_W * 0.17, BODY_W * 0.09, BODY_W * 0.27, BODY_W * 0.15, BODY_W * 0.2),
                         mono=(5,)))
        last = f.reviews[0]
        if last["outcome"] == "retire":
            out.append(para(f"The last review decided to retire {vid}; no further review is scheduled."))
        elif every:
            out.append(para(f"Next review due {fmt(last['reviewed_at'] + dt.timedelta(days=int(every)))}."))
    elif f.under_oversight:
        out.append(r.missing(f"a periodic review of {vid}: it serves in {f.version.environment} and has never been "
                             "reviewed since (record one on the Oversight page or with 'countersign review-periodic')"))
    else:
        out.append(para(f"{vid} does not serve in an environment under oversight: no periodic review applies."))
    return out


def b_consistency(f: ReportFacts, r: Renderer) -> list[Flowable]:
    from governance.reports.consistency import render_consistency

    return render_consistency(f, r)


BLOCKS: dict[str, Block] = {
    "identity": Block("Identification", b_identity, "the catalog version"),
    "provider": Block("Provider and accountable owner", b_provider, "model owner"),
    "intended_use": Block("Intended purpose", b_intended_use, "model intended_use or model card"),
    "model_card": Block("Model card", b_model_card, "a synced model card"),
    "lineage": Block("Lineage across accounts", b_lineage, "the catalog lineage"),
    "lineage_changes": Block("Versions and promotions", b_lineage_changes, "other versions or requests"),
    "deployments": Block("Deployments", b_deployments, "synced deployments"),
    "consistency": Block("Consistency across environments", b_consistency,
                         "the lineage's artifact hashes, containers and inference specifications"),
    "registry_history": Block("Registry history", b_registry_history, "history rows of the version"),
    "inventory": Block("Model inventory entry", b_inventory, "the catalog model"),
    "development": Block("Development process", b_development, "the training run linked to the version"),
    "data": Block("Data provenance", b_data, "the version's data URIs"),
    "human_oversight": Block("Human oversight", b_human_oversight, "the tier policy"),
    "performance": Block("Performance across environments", b_performance, "registered metrics"),
    "group_accuracy": Block("Accuracy per group", b_group_accuracy, "bias evidence"),
    "bias": Block("Discriminatory impact (four-fifths rule)", b_bias, "bias evidence"),
    "clarify": Block("Bias metrics (SageMaker Clarify definitions)", b_clarify, "bias evidence with Clarify metrics"),
    "explain": Block("Explainability (SHAP)", b_explain, "explainability evidence"),
    "drift": Block("Data drift", b_drift, "drift evidence"),
    "monitoring": Block("Post-market monitoring", b_monitoring, "a 'current' dataset, drift evidence"),
    "limitations": Block("Limitations and foreseeable risks", b_limitations, "model card limitations"),
    "gates": Block("Policy gate verdicts", b_gates, "governance.policy, or a promotion request's gates"),
    "policy": Block("Metrics and thresholds in force", b_policy, "the tier policy"),
    "policy_reference": Block("Policy applied", b_policy_reference, "the tier policy"),
    "approvals": Block("Approvals", b_approvals, "promotion requests and decisions"),
    "risk_acceptances": Block("Risk acceptances", b_risk_acceptances, "decisions of kind accept_risk"),
    "evidence_log": Block("Test log", b_evidence_log, "evidence rows"),
    "cybersecurity": Block("Cybersecurity", b_cybersecurity, "the artifact sha256"),
    "ledger": Block("Ledger entries and checkpoint", b_ledger, "ledger entries and a checkpoint"),
    "periodic_review": Block("Periodic review", b_periodic_review, "periodic reviews of a deployed version"),
}


# ---------------------------------------------------------------------------------------------------------
# Document assembly


class _Doc(BaseDocTemplate):
    """A document that feeds headings into the table of contents and PDF outline."""

    def __init__(self, buf: io.BytesIO, header: str, **kw: Any) -> None:
        super().__init__(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                         bottomMargin=MARGIN, invariant=1, **kw)
        self.header = header
        frame = Frame(MARGIN, MARGIN, BODY_W, PAGE_H - 2 * MARGIN, id="body")
        self.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=self._decorate)])

    def _decorate(self, canv: rl_canvas.Canvas, doc: BaseDocTemplate) -> None:
        canv.saveState()
        canv.setFont("Helvetica", 7.5)
        canv.setFillColor(colors.HexColor("#555555"))
        canv.drawString(MARGIN, PAGE_H - MARGIN + 14, self.header)
        canv.line(MARGIN, PAGE_H - MARGIN + 10, PAGE_W - MARGIN, PAGE_H - MARGIN + 10)
        canv.restoreState()

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, Paragraph) and getattr(flowable, "_toc_level", None) is not None:
            level = flowable._toc_level
            text = flowable.getPlainText()
            key = f"h{level}-{self.seq.nextf('heading')}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=level, closed=level > 0)
            self.notify("TOCEntry", (level, text, self.page, key))


def pdf_metadata(canv: rl_canvas.Canvas, built_at: dt.datetime) -> None:
    """The document information a report carries beyond title, author and subject: its creation and modification
    date are the build time (UTC), not the clock, so a rebuild with the same time gives the same bytes.

    reportlab's invariant mode stamps 2000-01-01 (or ``SOURCE_DATE_EPOCH``, process-wide); the document's own
    timestamp is replaced here instead, and the document id is seeded with the build time too.
    """
    from reportlab.lib.utils import TimeStamp

    if built_at.tzinfo is not None:
        built_at = built_at.astimezone(dt.UTC).replace(tzinfo=None)
    epoch = (built_at - dt.datetime(1970, 1, 1)).total_seconds()
    stamp = TimeStamp(invariant=1)  # UTC fields; then moved to the build time
    stamp.t, stamp.lt = epoch, built_at.timetuple()
    stamp.YMDhms = tuple(stamp.lt)[:6]
    doc = canv._doc
    doc._timeStamp = stamp
    doc.signature.update(built_at.isoformat().encode())


def _numbered_canvas(footer: str, built_at: dt.datetime) -> type[rl_canvas.Canvas]:
    class NumberedCanvas(rl_canvas.Canvas):
        """Draws "Page N of M" once the page count is known."""

        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self._pages: list[dict[str, Any]] = []
            pdf_metadata(self, built_at)

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 7.5)
                self.setFillColor(colors.HexColor("#555555"))
                self.drawString(MARGIN, MARGIN - 18, footer)
                self.drawRightString(PAGE_W - MARGIN, MARGIN - 18, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def heading(text: str, level: int) -> Paragraph:
    """A heading that appears in the table of contents (level 0 sections, level 1 blocks)."""
    p = Paragraph(clean(text), STYLES["h1" if level == 0 else "h2"])
    p._toc_level = level
    p._cs_text = str(text)
    return p


@dataclass(frozen=True)
class BuiltReport:
    """An unsigned report PDF and what went into it."""

    pdf: bytes
    sha256: str
    pages: int
    gaps: tuple[Gap, ...]
    charts: int
    template_id: str
    template_version: str
    facts_fingerprint: str


def render_section(section: Section, f: ReportFacts, r: Renderer) -> list[Flowable]:
    """The flowables of one template section, with gaps recorded for blocks lacking evidence."""
    r.section = section.title
    out: list[Flowable] = [heading(section.title, 0)]
    if section.reference:
        out.append(para(f"Reference: {section.reference}", "guidance"))
    if section.guidance:
        out.append(para(section.guidance, "guidance"))
    if section.text:
        out.append(para(section.text))
    for name in section.blocks:
        block = BLOCKS[name]
        r.block = block.title
        try:
            body = block.render(f, r)
        except Missing as exc:
            body = [r.missing(str(exc))]
        out.append(KeepTogether([heading(block.title, 1), *body[:1]]))
        out.extend(body[1:])
    return out


def gate_summary(f: ReportFacts) -> list[Flowable]:
    """The front page's summary of gate verdicts: counts per verdict and one row per gate."""
    rows, source = gate_records(f)
    if not rows:
        return [para("No policy gate evaluation is recorded for this version; see the gaps table.")]
    counts: dict[str, int] = {}
    for x in rows:
        counts[_verdict(x)] = counts.get(_verdict(x), 0) + 1
    line = ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
    return [para(f"Gate verdicts ({source}): {line}."),
            table(("Gate", "Verdict"), [(x.get("gate") or x.get("name"), _verdict(x)) for x in rows],
                  (BODY_W * 0.6, BODY_W * 0.4))]


VERIFY_PDF = (
    "The document carries a PAdES signature. Check it with 'countersign pdf verify FILE --trust CERT.pem' or any "
    "PAdES-aware reader. Every evidence id above can be re-queried in the audit pack's Parquet snapshot or in the "
    "workspace catalog; ledger entry hashes can be checked with 'countersign ledger verify'."
)


def appendix(f: ReportFacts, template: Template, how_to_verify: str = VERIFY_PDF) -> list[Flowable]:
    """The appendix: hashes, evidence cited, software versions, policy, template and how to verify the file."""
    v = f.version
    out: list[Flowable] = [PageBreak(), heading("Appendix", 0)]
    hashes = [("model artifact", v.artifact_uri, v.artifact_sha256)]
    hashes += [(f"dataset: {k}", v.data_uris.get(k), f.datasets[k]) for k in sorted(f.datasets)]
    out += [heading("A. Hashes of the artifact and datasets", 1),
            table(("Item", "Location", "sha256"), hashes, (BODY_W * 0.16, BODY_W * 0.42, BODY_W * 0.42), mono=(2,))]
    ev = [(e.kind, e.evidence_id, e.computed_at, e.computed_by, e.input_hash, e.config_hash)
          for _k, e in sorted(f.evidence.items())]
    out.append(heading("B. Evidence cited", 1))
    if ev:
        out.append(table(("Kind", "Evidence id", "Computed", "By", "Input hash", "Config hash"), ev,
                         (BODY_W * 0.08, BODY_W * 0.2, BODY_W * 0.14, BODY_W * 0.16, BODY_W * 0.21, BODY_W * 0.21),
                         mono=(1, 4, 5)))
    else:
        out.append(para("No evidence rows are cited (see the gaps table)."))
    sw = dict(f.software)
    for e in f.evidence.values():
        for k in sorted(e.software):
            if _scalar(e.software[k]):
                sw.setdefault(f"{k} (evidence {e.kind})", str(e.software[k]))
    out += [heading("C. Software versions", 1), table(("Package", "Version"), sorted(sw.items()),
                                                      (BODY_W * 0.6, BODY_W * 0.4))]
    out += [heading("D. Policy in force", 1), *b_policy(f, Renderer(f))]
    out += [heading("E. Template", 1), kv_table([("Template", template.id), ("Version", template.version),
                                                 ("Effective", template.effective), ("Regulation", template.regulation),
                                                 ("Template file sha256", template.sha256)], mono=False)]
    out += [heading("F. How to verify this document", 1), para(how_to_verify)]
    return out


def cover_pairs(f: ReportFacts, template: Template, built_at: dt.datetime, gaps: Sequence[Gap]
                ) -> list[tuple[str, Any]]:
    """The cover's key/value rows: what the report is of, by which template, when and by whom it was built."""
    v = f.version
    return [
        ("Model", v.model),
        ("Version", v.version_id),
        ("Account / environment", f"{v.account} / {v.environment}"),
        ("Accounts in lineage", ", ".join(sorted({x.account for x in f.lineage} | {x.account for x in f.peers}))),
        ("Risk tier", f.tier),
        ("Template", f"{template.id} version {template.version}"),
        ("Generated at", fmt(built_at)),
        ("Records as of", f"{fmt(f.generated_at)} (newest record the report cites)"),
        ("Generated by", f.generated_by),
        ("Organisation", f.workspace_name),
        ("Facts fingerprint", f.fingerprint),
        ("Evidence gaps", len(gaps)),
    ]


def gaps_table(gaps: Sequence[Gap]) -> list[Flowable]:
    """The body of the front page's *Evidence gaps* section: one row per missing piece of evidence, or "None"."""
    if not gaps:
        return [para("None: every section of the template is backed by stored evidence.")]
    return [para(f"{len(gaps)} item(s) of evidence the template asks for were not found. Each is also "
                 f"marked 'Evidence missing' where it belongs."),
            table(("Section", "Item", "Missing evidence"), [(g.section, g.block, g.what) for g in gaps],
                  (BODY_W * 0.3, BODY_W * 0.22, BODY_W * 0.48))]


def _headings(story: Iterable[Flowable]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for fl in story:
        if isinstance(fl, KeepTogether):
            out += _headings(fl._content)
        elif isinstance(fl, Paragraph) and getattr(fl, "_toc_level", None) is not None:
            out.append((fl._toc_level, fl.getPlainText()))
    return out


def build_pdf(facts: ReportFacts, template: Template, *, built_at: dt.datetime) -> BuiltReport:
    """Build the unsigned report PDF for ``facts`` laid out by ``template`` at ``built_at`` (naive UTC or aware):
    deterministic bytes for the same facts, template and build time."""
    import hashlib

    rl_config.invariant = 1  # fixed document id (creation date: the build time): equal input, equal bytes
    rl_config.useA85 = 0  # binary streams: ASCII85 only grows the file and costs a third of the build time
    f = facts
    v = f.version
    r = Renderer(f)

    sections: list[Flowable] = []
    for s in template.sections:
        sections.extend(render_section(s, f, r))
    back = appendix(f, template)

    cover: list[Flowable] = [
        Spacer(1, 2.5 * cm),
        Paragraph(clean(template.title), STYLES["title"]),
        Paragraph(clean(template.regulation), STYLES["subtitle"]),
        Spacer(1, 1 * cm),
        kv_table(cover_pairs(f, template, built_at, r.gaps)),
        Spacer(1, 0.8 * cm),
        para(template.description, "guidance"),
        PageBreak(),
    ]
    toc = TableOfContents()
    toc.levelStyles = [
        ParagraphStyle("toc0", fontName="Helvetica-Bold", fontSize=9.5, leading=12, leftIndent=10, firstLineIndent=-10),
        ParagraphStyle("toc1", fontName="Helvetica", fontSize=8.5, leading=10.5, leftIndent=24, firstLineIndent=-10),
    ]
    front: list[Flowable] = [Paragraph("Contents", STYLES["h1"]), toc, PageBreak(), heading("Evidence gaps", 0),
                             *gaps_table(r.gaps)]
    front += [heading("Summary of gate verdicts", 0), *gate_summary(f), PageBreak()]

    story = [*cover, *front, *sections, *back]
    # The contents pages take the same room whatever the page numbers: seeding them with every heading makes
    # the first layout pass final in shape, so reportlab needs two passes instead of three.
    toc._entries = [(level, text, 99, None) for level, text in _headings(story)]

    buf = io.BytesIO()
    header = f"{template.title} - {v.version_id}"
    doc = _Doc(buf, header, title=f"{template.title}: {v.version_id}", author=f.workspace_name,
               subject=f"{template.id} {template.version}", creator=f"Countersign {__version__}",
               producer=f"Countersign {__version__} (reportlab)")
    doc.multiBuild(story, canvasmaker=_numbered_canvas(f"{f.workspace_name} - generated {fmt(built_at)}", built_at))
    pdf = buf.getvalue()
    return BuiltReport(
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
        pages=doc.page,
        gaps=tuple(r.gaps),
        charts=r.charts,
        template_id=template.id,
        template_version=template.version,
        facts_fingerprint=f.fingerprint,
    )
