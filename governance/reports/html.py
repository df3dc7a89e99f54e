"""The interactive HTML report: one self-contained file beside the PDF, from the same facts and template.

It renders the same neutral document as the PDF (:func:`governance.reports.assemble.document`: the same blocks,
tables, chart specs and gaps), so both files state the same sections, numbers and gaps. What differs is the medium:
tables sort by a click on a column header, charts are the same altair specs drawn by vega-embed in the browser
(tooltips, export to SVG/PNG), and the text keeps every character (the PDF's standard fonts replace some).

Self-contained and offline: the CSS, the sorting script and the Vega/Vega-Lite/vega-embed bundle
(``vl_convert.javascript_bundle``, cached under the workspace cache) are inlined, and a Content-Security-Policy forbids the page any network request
and any inline script but its own (by hash). Every value from the records (model names, column names, comments) is
HTML-escaped; chart specs travel as JSON with ``<``, ``>`` and ``&`` escaped, so no value can end a script early.

Deterministic: the same facts, template and build time give the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from governance import __version__
from governance import document as doc
from governance.document import Document, fmt
from governance.reports.assemble import VERIFY_HTML as VERIFY_HTML  # kept importable from here
from governance.reports.assemble import document
from governance.reports.chart_cache import vega_bundle as cached_bundle
from governance.reports.facts import ReportFacts
from governance.reports.templates import Template

EMBED_OPTIONS = {"actions": {"export": True, "source": False, "compiled": False, "editor": False},
                 "renderer": "svg"}

CSS = """
:root { --ink: #1d2733; --muted: #555; --line: #9aa3ad; --head: #e8ecf2; --missing: #9c1c1c; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1100px; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.9rem; margin: 0 0 .3rem; } h2 { font-size: 1.35rem; margin: 2.2rem 0 .5rem;
     border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .4rem; } h4 { font-size: .98rem; margin: 1rem 0 .3rem; }
.subtitle { font-size: 1.1rem; color: var(--muted); margin: 0 0 1.2rem; }
p { margin: .35rem 0; } .small { font-size: .82rem; color: var(--muted); }
.guidance { font-style: italic; color: #444; font-size: .92rem; }
.missing { color: var(--missing); font-weight: 700; }
nav ol { columns: 2; font-size: .9rem; list-style: none; padding-left: 1rem; } nav ol ol { columns: 1; }
.table-wrap { overflow-x: auto; margin: .5rem 0 .8rem; }
table { border-collapse: collapse; font-size: .82rem; min-width: 40%; }
th, td { border: 1px solid var(--line); padding: .2rem .45rem; text-align: left; vertical-align: top; }
td { overflow-wrap: anywhere; }
thead th { background: var(--head); white-space: nowrap; }
th button { all: unset; cursor: pointer; font-weight: 700; }
th button:focus-visible { outline: 2px solid #2b5fab; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
tr.differs td { background: #fde2e1; } tr.location td { background: #fff4d6; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .78rem; }
.chart { margin: .6rem 0 1rem; max-width: 100%; overflow-x: auto; }
footer { margin-top: 3rem; font-size: .8rem; color: var(--muted); border-top: 1px solid var(--line); padding-top: .5rem; }
@media print { nav, .vega-actions { display: none; } h2 { break-before: page; } }
"""

# Sort a table by the clicked header: numbers (data-v) numerically, text naturally; a second click reverses.
SORT_JS = """
(function () {
  function key(cell) { return cell ? cell.getAttribute("data-v") : null; }
  function compare(a, b, i) {
    var ca = a.cells[i], cb = b.cells[i], ka = key(ca), kb = key(cb);
    if (ka !== null && kb !== null) { return parseFloat(ka) - parseFloat(kb); }
    if (ka !== null) { return -1; }
    if (kb !== null) { return 1; }
    var ta = ca ? ca.textContent : "", tb = cb ? cb.textContent : "";
    return ta.localeCompare(tb, undefined, {numeric: true, sensitivity: "base"});
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, i) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (o) { o.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (r, n) { return [r, n]; });
        rows.sort(function (x, y) { return (asc ? 1 : -1) * compare(x[0], y[0], i) || x[1] - y[1]; });
        rows.forEach(function (x) { body.appendChild(x[0]); });
      });
    });
  });
})();
"""

EMBED_JS = """
(function () {
  var data = document.getElementById("cs-charts");
  if (!data) { return; }
  var charts = JSON.parse(data.textContent);
  charts.specs.forEach(function (spec, i) {
    vegaEmbed("#cs-chart-" + i, spec, charts.options).catch(function (err) {
      var box = document.getElementById("cs-chart-" + i);
      box.textContent = "This chart could not be drawn: " + err;
      box.className += " missing";
    });
  });
})();
"""


def vega_bundle(cache_dir: Path | None = None) -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert, no network), for altair's Vega-Lite version;
    cached by version under ``cache_dir``."""
    bundle = cached_bundle(cache_dir)
    if "</script" in bundle.lower():  # would end the inline script early; never seen, but checked, not assumed
        raise ConfigError("the vega-embed bundle of the installed vl-convert-python contains '</script': it cannot "
                          "be inlined in the HTML report (export with --no-html, or install the pinned version)")
    return bundle


def esc(value: Any) -> str:
    """A value as printed (:func:`governance.document.fmt`), escaped for HTML text and attributes."""
    return html.escape(value if isinstance(value, str) else fmt(value), quote=True)


def script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>``, ``&`` and the JavaScript line separators escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text


class _Page:
    """The HTML of one report as it is assembled: headings for the contents, chart specs to embed."""

    def __init__(self) -> None:
        self.toc: list[tuple[int, str, str]] = []
        self.specs: list[dict[str, Any]] = []

    def heading(self, level: int, text: str) -> str:
        anchor = f"s{len(self.toc) + 1}"
        self.toc.append((level, anchor, text))
        tag = "h2" if level == 0 else "h3"
        return f'<{tag} id="{anchor}">{esc(text)}</{tag}>'

    def nodes(self, nodes: Iterable[doc.Node]) -> str:
        return "".join(self.node(n) for n in nodes)

    def node(self, node: doc.Node) -> str:
        if isinstance(node, doc.Titled):
            return self.heading(1, node.title) + self.nodes(node.body)
        if isinstance(node, doc.PerMedium):
            return self.nodes(node.html)
        if isinstance(node, doc.Heading):
            return self.heading(node.level, node.text)
        if isinstance(node, doc.Chart):
            self.specs.append(node.spec)
            return f'<div class="chart" id="cs-chart-{len(self.specs) - 1}"></div>'
        if isinstance(node, doc.Table):
            return table_html(node)
        if isinstance(node, doc.MissingNote):
            return f'<p class="missing">{esc(node.text)}</p>'
        if isinstance(node, doc.Paragraph):
            if node.style in ("h1", "h2"):
                return f"<h4>{esc(node.text)}</h4>"
            cls = "" if node.style == "body" else f' class="{node.style}"'
            return f"<p{cls}>{esc(node.text)}</p>"
        return ""  # spacers and page breaks: layout of the printed page only


def table_html(content: doc.Table) -> str:
    """A sortable table: the header as buttons, each cell printed as in the PDF, numbers carrying their value."""
    head = "".join(f'<th scope="col" aria-sort="none"><button type="button">{esc(h)}</button></th>'
                   for h in content.header)
    marked = dict(content.marked)
    rows = []
    for n, row in enumerate(content.rows):
        cells = []
        for i, value in enumerate(row):
            attrs = ' class="mono"' if i in content.mono else ""
            if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
                attrs += f' data-v="{value!r}"'
            cells.append(f"<td{attrs}>{esc(value)}</td>")
        mark = f' class="{marked[n]}"' if n in marked else ""
        rows.append(f"<tr{mark}>{''.join(cells)}</tr>")
    return (f'<div class="table-wrap"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _csp(scripts: Sequence[str]) -> str:
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)
    # 'unsafe-eval': Vega compiles its expressions with Function(); inline scripts run only when their hash is here
    return (f"default-src 'none'; script-src {hashes} 'unsafe-eval'; style-src 'unsafe-inline'; "
            "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")


def build_html(facts: ReportFacts, template: Template, *, built_at: dt.datetime,
               cache_dir: Path | None = None) -> bytes:
    """The interactive HTML report of ``facts`` laid out by ``template``, built at ``built_at``: one self-contained
    UTF-8 file, the same bytes for the same facts, template and build time."""
    return render_html(document(facts, template, built_at=built_at, cache_dir=cache_dir), facts, template,
                       built_at=built_at, cache_dir=cache_dir)


def render_html(report: Document, facts: ReportFacts, template: Template, *, built_at: dt.datetime,
                cache_dir: Path | None = None) -> bytes:
    """The HTML file of an assembled document (the Vega bundle cached under ``cache_dir``)."""
    f = facts
    page = _Page()
    body = page.nodes([*report.front, *report.body, *report.back])
    cover = page.nodes(report.cover)
    toc = _toc(page.toc)

    scripts = [SORT_JS]
    chart_data = ""
    if page.specs:
        chart_data = (f'<script type="application/json" id="cs-charts">'
                      f'{script_json({"specs": page.specs, "options": EMBED_OPTIONS})}</script>')
        scripts = [vega_bundle(cache_dir), SORT_JS, EMBED_JS]
    title = report.metadata.get("title", template.title)
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_csp(scripts))}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="Countersign {esc(__version__)}">',
        f'<meta name="countersign-facts" content="{esc(f.fingerprint)}">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f'<header><h1>{esc(report.title)}</h1><p class="subtitle">{esc(report.subtitle)}</p>',
        cover, "</header>",
        toc, f"<main>{body}</main>",
        f"<footer>{esc(f.workspace_name)} - generated {esc(fmt(built_at))} by Countersign {esc(__version__)}"
        f" - {esc(template.id)} version {esc(template.version)}</footer>",
        chart_data,
        *(f"<script>{s}</script>" for s in scripts),
        "</body></html>\n",
    ]
    return "\n".join(lines).encode("utf-8")


def _toc(entries: Sequence[tuple[int, str, str]]) -> str:
    """The contents: each section with its blocks, linked to their headings."""
    groups: list[tuple[str, list[str]]] = []
    for level, anchor, text in entries:
        link = f'<a href="#{anchor}">{esc(text)}</a>'
        if level == 0 or not groups:
            groups.append((link, []))
        else:
            groups[-1][1].append(link)
    items = "".join(f"<li>{top}{'<ol>' + ''.join(f'<li>{x}</li>' for x in subs) + '</ol>' if subs else ''}</li>"
                    for top, subs in groups)
    return f'<nav aria-label="Contents"><h2>Contents</h2><ol>{items}</ol></nav>'

