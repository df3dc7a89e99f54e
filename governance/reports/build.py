"""Build a report PDF: assemble the neutral document of the facts and template, then lay it out with reportlab.

The rooms: :mod:`governance.document` (the neutral model: headings, paragraphs, tables, charts as data, gaps),
:mod:`governance.reports.blocks` (the block registry: facts → nodes), :mod:`governance.reports.assemble` (cover,
gaps, sections, appendix → one :class:`~governance.document.Document`), :mod:`governance.reports.pdf` and
:mod:`governance.reports.html` (the renderers). This module keeps the one call the export makes and the names
callers have always imported from here.

Determinism: the same facts, template and build time give the same bytes (see :mod:`governance.reports.pdf`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from governance.document import MISSING, Document, Gap, Missing, fmt
from governance.document import Table as TableContent
from governance.reports.assemble import document
from governance.reports.blocks import BLOCKS
from governance.reports.facts import ReportFacts
from governance.reports.pdf import BODY_W, CELL_PADDING, STYLES, WIDEST_WORD_SHARE, clean, clean_text, render_pdf, table
from governance.reports.templates import Template

__all__ = ["BLOCKS", "BODY_W", "CELL_PADDING", "MISSING", "STYLES", "WIDEST_WORD_SHARE", "BuiltReport", "Gap",
           "Missing", "TableContent", "build_pdf", "clean", "clean_text", "fmt", "render", "table"]


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


def render(doc: Document, facts: ReportFacts, template: Template, *, built_at: dt.datetime,
           cache_dir: Path | None = None) -> BuiltReport:
    """The unsigned PDF of an assembled document (charts rendered once and cached under ``cache_dir``)."""
    pdf, pages = render_pdf(doc, built_at=built_at, cache_dir=cache_dir)
    return BuiltReport(pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest(), pages=pages, gaps=doc.gaps,
                       charts=doc.charts, template_id=template.id, template_version=template.version,
                       facts_fingerprint=facts.fingerprint)


def build_pdf(facts: ReportFacts, template: Template, *, built_at: dt.datetime,
              cache_dir: Path | None = None) -> BuiltReport:
    """Build the unsigned report PDF for ``facts`` laid out by ``template`` at ``built_at`` (naive UTC or aware):
    deterministic bytes for the same facts, template and build time."""
    return render(document(facts, template, built_at=built_at, cache_dir=cache_dir), facts, template,
                  built_at=built_at, cache_dir=cache_dir)
