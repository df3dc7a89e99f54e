"""The PDF renderer: a :class:`governance.document.Document` laid out with reportlab platypus, byte-for-byte
deterministic.

Determinism: reportlab's invariant mode fixes the document id, and the creation date is set to the build time the
caller gives (:func:`pdf_metadata`); every other date printed comes from the facts; charts are PNGs from
vl-convert, which is deterministic (and cached by the spec's content, :mod:`governance.reports.chart_cache`). The
same document and build time give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

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
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import PageBreak as RLPageBreak
from reportlab.platypus import Paragraph as RLParagraph
from reportlab.platypus import Table as RLTable
from reportlab.platypus.tableofcontents import TableOfContents

from governance import document as doc
from governance.document import fmt
from governance.reports.chart_cache import contents_key, layout_guess, remember_layout, render_png
from governance.reports.pdf_images import ChartImage

PAGE_W, PAGE_H = A4
MARGIN = 2 * cm
BODY_W = PAGE_W - 2 * MARGIN

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
MARKS = {"differs": colors.HexColor("#fde2e1"), "location": colors.HexColor("#fff4d6")}

# Characters outside the standard PDF fonts' encoding, replaced so no glyph prints as a black box.
_REPLACE = {"≥": ">=", "≤": "<=", "→": "->", "←": "<-", "≠": "!=", "σ": "sigma", "✓": "yes", "✗": "no", "…": "..."}


def clean_text(text: Any) -> str:
    """``text`` in the standard fonts' character set (what prints), before markup escaping."""
    s = "" if text is None else str(text)
    for a, b in _REPLACE.items():
        s = s.replace(a, b)
    return s.encode("cp1252", "replace").decode("cp1252")


def clean(text: Any) -> str:
    """``text`` as safe paragraph markup in the standard fonts' character set."""
    return escape(clean_text(text))


def para(text: Any, style: str = "body") -> RLParagraph:
    """A reportlab paragraph of plain text."""
    return RLParagraph(clean(text), STYLES[style])


def heading(text: str, level: int) -> RLParagraph:
    """A heading that appears in the table of contents (level 0 sections, level 1 blocks)."""
    p = RLParagraph(clean(text), STYLES["h1" if level == 0 else "h2"])
    p._toc_level = level
    return p


CELL_PADDING = 12  # a table cell's left and right padding together (reportlab's default 6 + 6)
WIDEST_WORD_SHARE = 0.45  # a longer word (a hash, a URI) may still wrap rather than squeeze every other column
BREAKABLE_FLOOR = 0.08  # the least share of the body a column whose words wrap keeps


LONG_WORD = 40  # characters: a longer word is a URI or a hash, which may wrap before any shorter word does


def _word_widths(header: Sequence[str], cells: Sequence[Sequence[str]],
                 mono: Sequence[int]) -> list[tuple[float, int]]:
    """Per column, the width its longest word needs on one line (padding included) and its length in characters."""
    need = []
    for i in range(len(header)):
        style = STYLES["mono"] if i in mono else STYLES["cell"]
        words = [(w, STYLES["cellhead"]) for w in str(header[i]).split()]
        words += [(w, style) for row in cells for w in str(row[i]).split()]
        sized = [(stringWidth(clean_text(w), st.fontName, st.fontSize), len(w)) for w, st in words]
        width, chars = max(sized, default=(0.0, 0))
        need.append((width + CELL_PADDING + 1, chars))
    return need


def _water_level(need: Sequence[float], total: float) -> float:
    """The cap ``c`` with ``sum(min(w, c) for w in need) == total`` (``need`` sums to more than ``total``)."""
    rest, left = total, len(need)
    for w in sorted(need):
        if w * left > rest:
            return max(rest / left, BODY_W * BREAKABLE_FLOOR)
        rest -= w
        left -= 1
    return max(need)


def _squeeze(sized: Sequence[tuple[float, int]], total: float) -> list[float]:
    """Widths for columns whose longest words do not fit side by side: the columns of long words (URIs, hashes)
    give way first, down to a floor each; only then do all columns share one cap."""
    need = [w for w, _ in sized]
    long = [i for i, (_, chars) in enumerate(sized) if chars > LONG_WORD]
    whole = sum(need[i] for i in range(len(need)) if i not in long)
    room = total - whole
    if long and room >= BODY_W * BREAKABLE_FLOOR * len(long):
        cap = _water_level([need[i] for i in long], room)
        return [min(w, cap) if i in long else w for i, w in enumerate(need)]
    cap = _water_level(need, total)
    return [min(w, cap) for w in need]


def fit_words(header: Sequence[str], cells: Sequence[Sequence[str]], widths: Sequence[float],
              mono: Sequence[int] = ()) -> list[float]:
    """Column widths that hold each column's longest word on one line, so a table never splits a word.

    Width goes to the columns that need it from the columns with room to spare; the table's total width stays the
    same. A word wider than :data:`WIDEST_WORD_SHARE` of the page body (a hash, a URI) is the exception: it may wrap;
    and when the longest words of all columns do not fit side by side, URIs and hashes wrap first (:func:`_squeeze`).
    """
    n = len(header)
    total = float(sum(widths))
    sized = [(min(w, BODY_W * WIDEST_WORD_SHARE), chars) for w, chars in _word_widths(header, cells, mono)]
    need = [w for w, _ in sized]
    if sum(need) > total:  # not every longest word fits: URIs and hashes wrap so states, e-mails and ids stay whole
        need = _squeeze(sized, total)
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
    return RLParagraph(plain, style)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[float] | None = None, *,
          mono: Sequence[int] = ()) -> RLTable:
    """A wrapped reportlab table with a repeated header row; ``widths`` in points; ``mono`` columns in Courier."""
    if widths is None:
        widths = [BODY_W / len(header)] * len(header)
    kept = [tuple(row) for row in rows]
    widths = fit_words(header, [[fmt(v) for v in row] for row in kept], widths, mono)
    body: list[list[Any]] = [[_cell(h, STYLES["cellhead"], widths[i]) for i, h in enumerate(header)]]
    for row in kept:
        body.append([_cell(fmt(v), STYLES["mono"] if i in mono else STYLES["cell"], widths[i]) for i, v in enumerate(row)])
    t = RLTable(body, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
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


def _widths(node: doc.Table) -> list[float] | None:
    if node.widths is not None:
        return [BODY_W * w for w in node.widths]
    if node.weights is not None:
        total = sum(node.weights)
        return [BODY_W * n / total for n in node.weights]
    return None


def _table(node: doc.Table) -> RLTable:
    t = table(node.header, node.rows, _widths(node), mono=node.mono)
    if node.marked:
        t.setStyle(TableStyle([("BACKGROUND", (0, i + 1), (-1, i + 1), MARKS[kind]) for i, kind in node.marked]))
    return t


def _chart(node: doc.Chart, cache_dir: Path | None) -> ChartImage:
    """A chart as an image ``node.width`` of the body wide (a very tall chart keeps its proportions)."""
    width = BODY_W * node.width
    png = render_png(node.spec, cache_dir)
    img = ChartImage(png, cache_dir, hashlib.sha256(png).hexdigest())
    ratio = img.imageHeight / img.imageWidth
    img.drawWidth = width
    img.drawHeight = min(width * ratio, PAGE_H * 0.55)
    if img.drawHeight < width * ratio:
        img.drawWidth = img.drawHeight / ratio
    return img


def flowables(nodes: Iterable[doc.Node], cache_dir: Path | None = None) -> list[Flowable]:
    """The reportlab flowables of ``nodes``."""
    out: list[Flowable] = []
    for node in nodes:
        if isinstance(node, doc.Titled):
            body = flowables(node.body, cache_dir)
            out.append(KeepTogether([heading(node.title, 1), *body[:1]]))
            out.extend(body[1:])
        elif isinstance(node, doc.PerMedium):
            out.extend(flowables(node.pdf, cache_dir))
        else:
            out.append(_flowable(node, cache_dir))
    return out


def _flowable(node: doc.Node, cache_dir: Path | None) -> Flowable:
    if isinstance(node, doc.Heading):
        return heading(node.text, node.level)
    if isinstance(node, doc.Paragraph):
        return para(node.text, node.style)
    if isinstance(node, doc.MissingNote):
        return para(node.text, "missing")
    if isinstance(node, doc.Table):
        return _table(node)
    if isinstance(node, doc.Chart):
        return _chart(node, cache_dir)
    if isinstance(node, doc.Spacer):
        return Spacer(1, node.height)
    if isinstance(node, doc.PageBreak):
        return _page_break()
    raise TypeError(f"no PDF rendering for {type(node).__name__}")


# A page break is taken only when less than this share of the page is left: the content that would follow on the
# same page is more than a few lines, so no page holds six lines and blank paper (issue 35, finding 13).
NEAR_EMPTY_SHARE = 0.4


def _page_break() -> CondPageBreak:
    """A break to a new page unless most of the current page is still free."""
    return CondPageBreak((PAGE_H - 2 * MARGIN) * NEAR_EMPTY_SHARE)


# -- the document ---------------------------------------------------------------------------------------------------


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
        if isinstance(flowable, RLParagraph) and getattr(flowable, "_toc_level", None) is not None:
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
    pdf = canv._doc
    pdf._timeStamp = stamp
    pdf.signature.update(built_at.isoformat().encode())


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


def _headings(story: Iterable[Flowable]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for fl in story:
        if isinstance(fl, KeepTogether):
            out += _headings(fl._content)
        elif isinstance(fl, RLParagraph) and getattr(fl, "_toc_level", None) is not None:
            out.append((fl._toc_level, fl.getPlainText()))
    return out


def _story(document: doc.Document, cache_dir: Path | None,
           seed: list[tuple[int, str, int, str | None]] | None = None) -> tuple[list[Flowable], TableOfContents]:
    """The cover, the contents, the front matter, the sections and the appendix as one story."""
    cover: list[Flowable] = [
        Spacer(1, 2.5 * cm),
        RLParagraph(clean(document.title), STYLES["title"]),
        RLParagraph(clean(document.subtitle), STYLES["subtitle"]),
        Spacer(1, 1 * cm),
        *flowables(document.cover[:1], cache_dir),
        Spacer(1, 0.8 * cm),
        *flowables(document.cover[1:], cache_dir),
        RLPageBreak(),
    ]
    toc = TableOfContents()
    toc.levelStyles = [
        ParagraphStyle("toc0", fontName="Helvetica-Bold", fontSize=9.5, leading=12, leftIndent=10, firstLineIndent=-10),
        ParagraphStyle("toc1", fontName="Helvetica", fontSize=8.5, leading=10.5, leftIndent=24, firstLineIndent=-10),
    ]
    front = [RLParagraph("Contents", STYLES["h1"]), toc, _page_break(), *flowables(document.front, cache_dir)]
    story = [*cover, *front, *flowables(document.body, cache_dir), *flowables(document.back, cache_dir)]
    # The contents pages take the same room whatever the page numbers: seeding them with every heading makes
    # the first layout pass final in shape, so reportlab needs two passes instead of three; seeded with the entries
    # a previous build of the same content ended with (``seed``), the first pass is final and the only one.
    headings = _headings(story)
    fits = seed is not None and [(level, text) for level, text, _page, _key in seed] == headings
    toc._entries = list(seed) if fits else [(level, text, 99, None) for level, text in headings]
    return story, toc


def render_pdf(document: doc.Document, *, built_at: dt.datetime, cache_dir: Path | None = None) -> tuple[bytes, int]:
    """The PDF bytes of ``document`` built at ``built_at`` and its page count (charts cached under ``cache_dir``)."""
    rl_config.invariant = 1  # fixed document id (creation date: the build time): equal input, equal bytes
    rl_config.useA85 = 0  # binary streams: ASCII85 only grows the file and costs a third of the build time
    key = contents_key(document)
    story, toc = _story(document, cache_dir, layout_guess(cache_dir, key))
    buf = io.BytesIO()
    meta = document.metadata
    pdf = _Doc(buf, document.header, title=meta.get("title", ""), author=meta.get("author", ""),
               subject=meta.get("subject", ""), creator=meta.get("creator", ""), producer=meta.get("producer", ""))
    pdf.multiBuild(story, canvasmaker=_numbered_canvas(document.footer, built_at))
    remember_layout(cache_dir, key, toc._entries)
    return buf.getvalue(), pdf.page
