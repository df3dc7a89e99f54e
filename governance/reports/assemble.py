"""Assembly: the document of one report from its facts and template, in the neutral model both renderers consume.

The template's sections name blocks (:mod:`governance.reports.blocks`); a block whose evidence is missing prints
"Evidence missing: ..." where it belongs and adds a row to the gaps table at the front: nothing is dropped silently.
Then come the cover, the gaps and the gate summary, and the appendix (hashes, evidence cited, software, policy,
template, how to verify the file).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.wording import words
from governance import __version__
from governance.document import (
    Charts,
    Document,
    Gap,
    Heading,
    Missing,
    MissingNote,
    Node,
    PageBreak,
    PerMedium,
    Titled,
    fmt,
    kv,
    para,
    scalar,
    table,
)
from governance.reports.blocks import block
from governance.reports.blocks.common import gate_records, verdict
from governance.reports.blocks.signoff import policy
from governance.reports.chart_cache import ChartSpecs
from governance.reports.facts import ReportFacts
from governance.reports.templates import Section, Template

VERIFY_PDF = (
    "The document carries a PAdES signature. Check it with 'countersign pdf verify FILE --trust CERT.pem' or any "
    "PAdES-aware reader. Every evidence id above can be re-queried in the audit pack's Parquet snapshot or in the "
    "workspace catalog; ledger entry hashes can be checked with 'countersign ledger verify'."
)
VERIFY_HTML = (
    "This HTML file is not signed: the signed record is the PDF exported with it. The export's ledger entry "
    "(report.export) records this file's sha256 (html_sha256) next to the PDF's; compare it with 'sha256sum FILE' "
    "and check the ledger with 'countersign ledger verify'. Every evidence id above can be re-queried in the audit "
    "pack's Parquet snapshot or in the workspace catalog."
)


def section_nodes(section: Section, f: ReportFacts, charts: Charts) -> tuple[list[Node], list[Gap]]:
    """The nodes of one template section and the gaps its blocks found (in the order they print)."""
    out: list[Node] = [Heading(section.title, 0)]
    if section.reference:
        out.append(para(f"Reference: {section.reference}", "guidance"))
    if section.guidance:
        out.append(para(section.guidance, "guidance"))
    if section.text:
        out.append(para(section.text))
    gaps: list[Gap] = []
    for name in section.blocks:
        b = block(name)
        try:
            body = b.render(f, charts)
        except Missing as exc:
            body = [MissingNote(str(exc))]
        gaps += [Gap(section.title, b.title, n.what) for n in body if isinstance(n, MissingNote)]
        out.append(Titled(b.title, tuple(body)))
    return out, gaps


def gate_summary(f: ReportFacts) -> list[Node]:
    """The front page's summary of gate verdicts: counts per verdict and one row per gate."""
    rows, source = gate_records(f)
    if not rows:
        return [para("No policy gate evaluation is recorded for this version; see the gaps table.")]
    counts: dict[str, int] = {}
    for x in rows:
        counts[verdict(x)] = counts.get(verdict(x), 0) + 1
    line = ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
    return [para(f"Gate verdicts ({source}): {line}."),
            table(("Gate", "Verdict"), [(words(x.get("gate") or x.get("name")), verdict(x)) for x in rows],
                  (0.6, 0.4))]


def appendix(f: ReportFacts, template: Template, charts: Charts) -> list[Node]:
    """The appendix: hashes, evidence cited, software versions, policy, template and how to verify the file."""
    v = f.version
    out: list[Node] = [PageBreak(), Heading("Appendix", 0)]
    hashes = [("model artifact", v.artifact_uri, v.artifact_sha256)]
    hashes += [(f"dataset: {k}", v.data_uris.get(k), f.datasets[k]) for k in sorted(f.datasets)]
    out += [Heading("A. Hashes of the artifact and datasets", 1),
            table(("Item", "Location", "sha256"), hashes, (0.16, 0.42, 0.42), mono=(2,))]
    ev = [(e.kind, e.evidence_id, e.computed_at, e.computed_by, e.input_hash, e.config_hash)
          for _k, e in sorted(f.evidence.items())]
    out.append(Heading("B. Evidence cited", 1))
    if ev:
        out.append(table(("Kind", "Evidence id", "Computed", "By", "Input hash", "Config hash"), ev,
                         (0.08, 0.2, 0.14, 0.16, 0.21, 0.21), mono=(1, 4, 5)))
    else:
        out.append(para("No evidence rows are cited (see the gaps table)."))
    sw = dict(f.software)
    for e in f.evidence.values():
        for k in sorted(e.software):
            if scalar(e.software[k]):
                sw.setdefault(f"{k} (evidence {e.kind})", str(e.software[k]))
    out += [Heading("C. Software versions", 1), table(("Package", "Version"), sorted(sw.items()), (0.6, 0.4))]
    out += [Heading("D. Policy in force", 1), *policy(f, charts)]
    out += [Heading("E. Template", 1), kv([("Template", template.id), ("Version", template.version),
                                           ("Effective", template.effective), ("Regulation", template.regulation),
                                           ("Template file sha256", template.sha256)], mono=False)]
    out += [Heading("F. How to verify this document", 1),
            PerMedium(pdf=(para(VERIFY_PDF),), html=(para(VERIFY_HTML),))]
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


def gaps_table(gaps: Sequence[Gap]) -> list[Node]:
    """The body of the front page's *Evidence gaps* section: one row per missing piece of evidence, or "None"."""
    if not gaps:
        return [para("None: every section of the template is backed by stored evidence.")]
    return [para(f"{len(gaps)} item(s) of evidence the template asks for were not found. Each is also "
                 f"marked 'Evidence missing' where it belongs."),
            table(("Section", "Item", "Missing evidence"), [(g.section, g.block, g.what) for g in gaps],
                  (0.3, 0.22, 0.48))]


def document(facts: ReportFacts, template: Template, *, built_at: dt.datetime,
             cache_dir: Path | None = None) -> Document:
    """The report of ``facts`` laid out by ``template`` at ``built_at``, in the neutral document model (chart specs
    cached by content under ``cache_dir``)."""
    f, v = facts, facts.version
    charts = ChartSpecs(cache_dir)
    body: list[Node] = []
    gaps: list[Gap] = []
    for s in template.sections:
        nodes, found = section_nodes(s, f, charts)
        body += nodes
        gaps += found
    front = [Heading("Evidence gaps", 0), *gaps_table(gaps), Heading("Summary of gate verdicts", 0),
             *gate_summary(f), PageBreak()]
    return Document(
        title=template.title, subtitle=template.regulation,
        cover=(kv(cover_pairs(f, template, built_at, gaps)), para(template.description, "guidance")),
        front=tuple(front), body=tuple(body), back=tuple(appendix(f, template, charts)), gaps=tuple(gaps),
        header=f"{template.title} - {v.version_id}",
        footer=f"{f.workspace_name} - generated {fmt(built_at)}",
        metadata={"title": f"{template.title}: {v.version_id}", "author": f.workspace_name,
                  "subject": f"{template.id} {template.version}", "creator": f"Countersign {__version__}",
                  "producer": f"Countersign {__version__} (reportlab)"},
    )
