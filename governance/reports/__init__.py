"""Regulatory reports: facts → deterministic PDF → PAdES signature → audit pack.

    templates.py  versioned TOML templates (governance/templates/, <workspace>/templates/) mapping sections to blocks
    template_library.py  the templates available to a workspace, checked against the block registry (BLOCKS)
    facts.py      ReportFacts: everything a report states, collected from catalog, evidence, policy and ledger
    build.py      the reportlab layout, the block registry (BLOCKS) and the gaps table; byte-identical output
    pdf_charts.py altair specs (governance.analytics.evidence_charts) rendered to PNG with vl-convert
    keys.py       signing keys and certificates: each signer's own, the organisation seal, the demo's self-signed ones
    signers.py    who signs an export: the exporter's own certificate, else the seal naming them ([signing])
    sign.py       PAdES signing (certification allowing countersignatures) and verification on pyHanko's bottom_line
    countersign.py  a later approver's approval signature on an exported report, recorded in the ledger
    export.py     export_report: role check, build, sign, write, ledger entry (what the CLI and the portal call)
    pack.py       build_pack: the audit pack zip
    preview.py    page 1 as PNG through poppler's pdftoppm
"""
