"""The neutral document model: what a report says, before any medium (PDF, HTML) lays it out.

A report block returns a list of nodes: :class:`Heading`, :class:`Paragraph`, :class:`Table` (a key-value table is a
two-column one, :func:`kv`), :class:`Chart` (a Vega-Lite spec: charts as data), :class:`MissingNote` (evidence the
block needed and did not find: printed where it belongs and listed in the gaps table), :class:`Spacer` and
:class:`PageBreak` (room on a printed page; the browser ignores them). The renderers
(:mod:`governance.reports.pdf`, :mod:`governance.reports.html`) consume the same nodes, so both files state the
same sections, numbers and gaps.

This module imports only the standard library: an evidence kind's report block (in ``governance.analytics.kinds``)
builds nodes without loading reportlab or the report's facts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.clock import naive_utc
from core.wording import cell, number, words

MISSING = "Evidence missing: "


class Missing(Exception):
    """Raised by a block when the evidence it needs does not exist (the message says what is missing)."""


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
        if value != 0 and abs(value) < 1e-3:  # written out, 4 significant digits; "< 0.0001" below that
            return number(value, digits=4)
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, dt.datetime):
        # the catalog stores naive UTC; an aware value is converted so every date in the report reads as UTC
        return naive_utc(value).strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):  # a threshold or a payload: "minimum metrics AUC 0.75", never raw JSON
        return cell({k: value[k] for k in sorted(value)}) if value else "-"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value) or "-"
    return str(value)


def scalar(value: Any) -> bool:
    """Whether ``value`` prints as one table cell (not a container)."""
    return value is None or isinstance(value, str | int | float | bool | dt.datetime | dt.date)


# -- nodes ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    """A heading listed in the contents: level 0 a template section, level 1 a block or an appendix part."""

    text: str
    level: int


@dataclass(frozen=True)
class Paragraph:
    """Plain text in a style: body, small, guidance, missing, h2 (a sub-heading not in the contents), title,
    subtitle."""

    text: str
    style: str = "body"


@dataclass(frozen=True)
class Table:
    """A table: the header, the raw cell values (each medium prints them with :func:`fmt`), the columns in a
    fixed-width font, the highlighted rows (row index → ``differs`` or ``location``) and how wide each column is:
    ``widths`` as shares of the body width, or ``weights`` shared out in proportion (None: equal columns)."""

    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    mono: tuple[int, ...] = ()
    marked: tuple[tuple[int, str], ...] = ()
    widths: tuple[float, ...] | None = None
    weights: tuple[int, ...] | None = None


@dataclass(frozen=True, eq=False)
class Chart:
    """A chart as data: its Vega-Lite spec, drawn ``width`` (a share of the body width) wide."""

    spec: dict[str, Any]
    width: float = 0.9


@dataclass(frozen=True)
class MissingNote:
    """The visible "Evidence missing" line for ``what``, also a row of the report's gaps table."""

    what: str

    @property
    def text(self) -> str:
        """The line as printed."""
        return MISSING + self.what


@dataclass(frozen=True)
class Spacer:
    """Vertical room on a printed page, in points."""

    height: float


@dataclass(frozen=True)
class PageBreak:
    """The next node starts a new printed page."""


@dataclass(frozen=True)
class Titled:
    """A block under its heading (level 1); a printed page keeps the heading with the first node of the body."""

    title: str
    body: tuple[Node, ...]


@dataclass(frozen=True)
class PerMedium:
    """Content that differs by medium (e.g. how to verify the file): the nodes for ``pdf`` and for ``html``."""

    pdf: tuple[Node, ...] = ()
    html: tuple[Node, ...] = ()


Node = Heading | Paragraph | Table | Chart | MissingNote | Spacer | PageBreak | Titled | PerMedium


@dataclass(frozen=True)
class Gap:
    """One piece of evidence a section needed and did not find."""

    section: str
    block: str
    what: str


class Charts(Protocol):
    """What a block draws charts with: the Vega-Lite spec of a chart of the analytics package (cached by content)."""

    def spec(self, name: str, *args: Any) -> dict[str, Any] | None:
        """The spec of ``governance.analytics.evidence_charts.<name>(*args)``, or None when it cannot draw them."""
        ...

    def bars(self, points: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        """A plain horizontal bar chart of ``points`` (the fallback drawn from a report's own table)."""
        ...


@dataclass(frozen=True)
class Block:
    """A unit of report content: its title, the function making its nodes from the report's facts and a
    :class:`Charts` (raising :class:`Missing` when it has nothing to show), and what it needs (for docs and the gaps
    table)."""

    title: str
    render: Callable[[Any, Charts], list[Node]]
    needs: str


@dataclass(frozen=True)
class Document:
    """One report in the neutral model: the cover, the front matter (gaps, gate summary), the template's sections,
    the appendix, the gaps found, and the running header and footer of a printed page."""

    title: str
    subtitle: str
    cover: tuple[Node, ...]
    front: tuple[Node, ...]
    body: tuple[Node, ...]
    back: tuple[Node, ...]
    gaps: tuple[Gap, ...]
    header: str
    footer: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def charts(self) -> int:
        """How many charts the sections draw."""
        return sum(isinstance(n, Chart) for n in walk(self.body))


def walk(nodes: Iterable[Node]) -> Iterable[Node]:
    """Every node, with the bodies of :class:`Titled` nodes in place (depth first)."""
    for node in nodes:
        yield node
        if isinstance(node, Titled):
            yield from walk(node.body)


# -- helpers the blocks share --------------------------------------------------------------------------------------


def para(text: Any, style: str = "body") -> Paragraph:
    """A paragraph of plain text (None prints nothing)."""
    return Paragraph("" if text is None else str(text), style)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[float] | None = None, *,
          mono: Sequence[int] = ()) -> Table:
    """A table; ``widths`` are shares of the body width, ``mono`` columns print in a fixed-width font."""
    return Table(tuple(str(h) for h in header), tuple(tuple(r) for r in rows), tuple(mono),
                 widths=None if widths is None else tuple(widths))


def kv(pairs: Iterable[tuple[str, Any]], *, mono: bool = False) -> Table:
    """A two-column key/value table."""
    return table(("Field", "Value"), [(words(k) if isinstance(k, str) else k, v) for k, v in pairs], (0.3, 0.7),
                 mono=(1,) if mono else ())


def records(records: Sequence[Mapping[str, Any]], prefer: Sequence[str] = (), *, limit_cols: int = 8,
            limit_rows: int = 60) -> Table:
    """A table of dict records: preferred keys first, then the other scalar keys in sorted order; columns as wide
    as their longest text (capped)."""
    keys: list[str] = [k for k in prefer if any(k in r for r in records)]
    others = sorted({k for r in records for k, v in r.items() if scalar(v)} - set(keys))
    keys = (keys + others)[:limit_cols]
    rows: list[list[Any]] = [[r.get(k) for k in keys] for r in records[:limit_rows]]
    longest = tuple(min(max([len(k), *(len(fmt(r[i])) for r in rows)]), 40) + 3 for i, k in enumerate(keys))
    if len(records) > limit_rows:
        rows.append([f"(+{len(records) - limit_rows} more rows: see the evidence JSON in the audit pack)"]
                    + [None] * (len(keys) - 1))
    return Table(tuple(words(k).capitalize() if "_" in k else k for k in keys), tuple(tuple(r) for r in rows),
                 weights=longest)
