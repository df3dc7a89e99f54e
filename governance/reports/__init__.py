"""Regulatory reports: facts → deterministic PDF → PAdES signature → audit pack.

    templates.py  versioned TOML templates (governance/templates/, <workspace>/templates/) mapping sections to blocks
    template_library.py  the templates available to a workspace, checked against the block registry (BLOCKS)
    facts.py      ReportFacts: everything a report states, collected from catalog, evidence, policy and ledger
    blocks/       the report blocks, one registry (BLOCKS): each turns facts into nodes of governance.document
    assemble.py   the whole report as one neutral Document: sections, gaps table, gate summary, appendix
    pdf.py        the reportlab renderer of a Document (byte-identical output); html.py the HTML renderer
    build.py      build_pdf: facts → Document → PDF (BuiltReport), what export and the tests call
    chart_cache.py  chart specs, PNGs and the Vega bundle, and the contents layout, cached by content
    pdf_images.py   chart images placed in the PDF from their image XObject, cached by the PNG's content
    keys.py       signing keys and certificates: each signer's own, the organisation seal, the demo's self-signed ones
    signers.py    who signs an export: the exporter's own certificate, else the seal naming them ([signing])
    sign.py       PAdES signing (certification allowing countersignatures) and verification on pyHanko's bottom_line
    countersign.py  a later approver's approval signature on an exported report, recorded in the ledger
    export.py     export_report: role check, build, sign, write, ledger entry (what the CLI and the portal call)
    pack.py       build_pack: the audit pack zip
    preview.py    page 1 as PNG through poppler's pdftoppm
"""
