"""CLI: ``report``, ``pdf verify`` / ``countersign`` / ``retimestamp`` and ``pack``."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from pathlib import Path

from core.errors import InputError, SignatureInvalid
from core.ids import VersionId
from countersign_cli.cliutil import open_workspace, print_json, progress_printer, wire

PASSPHRASE_ENV = "COUNTERSIGN_SIGNING_PASSPHRASE"


def report(p: argparse.ArgumentParser) -> None:
    """``countersign report``."""
    _version_args(p)
    p.add_argument("--out", metavar="FILE.pdf", help="where to write it (default: the workspace's exports/)")
    p.add_argument("--unsigned", action="store_true", help="skip the signature (the deterministic PDF)")
    p.add_argument("--no-html", dest="html", action="store_false",
                   help="skip the interactive HTML report written beside the PDF (FILE.html; default: written)")
    p.add_argument("--built-at", metavar="TIME", help="build time printed and stored as the PDF creation date "
                   "(ISO 8601, UTC unless it names an offset; default: now): the same records and time, the same bytes")
    p.add_argument("--list-templates", action="store_true", help="list the available templates and exit")
    wire(p, cmd_report)


def pdf(p: argparse.ArgumentParser) -> None:
    """``countersign pdf``."""
    pdf_sub = p.add_subparsers(dest="pdf_command", metavar="ACTION", required=True)
    v = pdf_sub.add_parser("verify", help="verify a signed report: integrity, signature, signer (exit 1 if not)")
    v.add_argument("file", metavar="FILE", help="the PDF to check")
    v.add_argument("--trust", action="append", metavar="CERT.pem", default=[],
                   help="trust anchor certificate (repeatable); without it the signer is not checked against one")
    v.add_argument("--at", metavar="TIME", help="verify as of this ISO 8601 date or time instead of now "
                   "(e.g. after the signer's certificate expires)")
    v.add_argument("--json", action="store_true", help="print one JSON document")
    v.set_defaults(func=cmd_pdf_verify)
    c = pdf_sub.add_parser("countersign", help="add your own approval signature to a report this workspace exported")
    c.add_argument("file", metavar="FILE", help="the signed report (as exported)")
    c.add_argument("--out", metavar="FILE.pdf", help="where to write it (default: the workspace's exports/)")
    wire(c, cmd_pdf_countersign)
    r = pdf_sub.add_parser("retimestamp", help="add an archive timestamp (PAdES B-LTA) before the last timestamp's "
                                               "TSA certificate expires, so the file stays provable")
    r.add_argument("file", metavar="FILE", help="a PAdES B-LTA PDF (signed with [signing] timestamp_url)")
    r.add_argument("--out", metavar="FILE.pdf", required=True, help="where to write the renewed PDF (the file "
                   "given is left as it is: its digest may be on record)")
    r.add_argument("--tsa", metavar="URL", help="the RFC 3161 service (default: the workspace's [signing] "
                   "timestamp_url)")
    r.add_argument("--trust", action="append", metavar="CERT.pem", default=[],
                   help="anchor the last timestamp's TSA chains to (repeatable; default: [signing] timestamp_trust)")
    wire(r, cmd_pdf_retimestamp)


def pack(p: argparse.ArgumentParser) -> None:
    """``countersign pack``."""
    _version_args(p)
    p.add_argument("--out", metavar="FILE.zip", help="where to write it (default: the workspace's exports/)")
    wire(p, cmd_pack)


def _version_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="NAME", help="model name")
    p.add_argument("--version", metavar="V", help="version number, or a full id ACCOUNT:MODEL:VERSION")
    p.add_argument("--environment", metavar="ENV", help="which environment's copy when several accounts hold V")
    p.add_argument("--template", metavar="NAME", default="eu-ai-act-annex-iv",
                   help="report template (default: eu-ai-act-annex-iv; see --list-templates)")


def _version_id(opened, args: argparse.Namespace) -> str:
    if VersionId.looks_like(args.version):
        return opened.catalog.version(args.version).version_id
    if not args.model or not args.version:
        raise InputError("name the version: --model NAME --version V (or --version ACCOUNT:MODEL:VERSION)")
    return opened.catalog.find_version(args.model, args.version, args.environment).version_id


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def _built_at(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--built-at {value!r}: not an ISO 8601 time (e.g. 2026-11-30T16:45:12Z)") from None


def _verify_at(value: str | None) -> dt.datetime | None:
    """``--at``: a date (its start, UTC) or a time; naive times are UTC."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--at {value!r}: not an ISO 8601 date or time (e.g. 2027-01-31 or 2027-01-31T12:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def cmd_report(args: argparse.Namespace) -> int:
    from governance.usecases.export import ExportCommand, export_report

    opened = open_workspace(args)
    if args.list_templates:
        from governance.reports.template_library import list_templates

        templates = list_templates(opened.workspace.root)
        if args.json:
            print_json([{"id": t.id, "title": t.title, "version": t.version, "regulation": t.regulation,
                         "sections": len(t.sections)} for t in templates])
        else:
            for t in templates:
                print(f"{t.id:<22} {t.version:<8} {t.title}")
        return 0
    vid = _version_id(opened, args)
    out = Path(args.out) if args.out else None  # default: kept in exports/ next to earlier exports
    result = export_report(opened, ExportCommand(vid, args.template, out=out, sign=not args.unsigned, html=args.html,
                                                 built_at=_built_at(args.built_at), passphrase=_passphrase()),
                           progress_printer(not args.json))
    if args.json:
        print_json({
            "version_id": vid, "template": result.template_id, "template_version": result.template_version,
            "file": str(result.path), "sha256": result.sha256, "unsigned_sha256": result.unsigned_sha256,
            "signed": result.signed, "signer": result.signer, "signer_role": result.signer_role,
            "signer_kind": result.signer_kind, "built_at": result.built_at, "pages": result.pages, "charts": result.charts,
            "gaps": [{"section": g.section, "item": g.block, "missing": g.what} for g in result.gaps],
            "ledger_seq": result.ledger_seq, "ledger_hash": result.ledger_hash,
            "html_file": str(result.html_path) if result.html_path else None, "html_sha256": result.html_sha256,
            "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        })
        return 0
    signed = (("sealed by" if result.signer_kind == "seal" else "signed by") + f" {result.signer}"
              + (f" ({result.signer_role})" if result.signer_role else ""))
    print(f"{result.path}: {result.pages} pages, {signed if result.signed else 'unsigned'}, sha256 {result.sha256}")
    if result.html_path is not None:
        print(f"{result.html_path}: interactive HTML report, sha256 {result.html_sha256}")
    print(f"template {result.template_id} {result.template_version}; {len(result.gaps)} evidence gap(s)")
    for g in result.gaps:
        print(f"  Evidence missing ({g.section} / {g.block}): {g.what}")
    if result.ledger_seq is not None:
        print(f"ledger entry {result.ledger_seq}: {result.ledger_hash}")
    return 0


def cmd_pdf_verify(args: argparse.Namespace) -> int:
    from governance.reports.longterm import long_term_json, print_long_term
    from governance.reports.sign import verify_file

    # pyHanko logs untrusted or broken certificates with a traceback; the verdict below says it in one line.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    try:
        result = verify_file(Path(args.file), trust=tuple(Path(t) for t in args.trust), at=_verify_at(args.at))
    except SignatureInvalid as exc:  # a finding: the file is not a validly signed PDF
        verdict = f"FAILED: {exc}"
        if args.json:
            print_json({"file": args.file, "ok": False, "verdict": verdict, "signatures": []})
        else:
            print(f"verdict: {verdict}")
        return exc.exit_code
    except InputError as exc:  # bad input (exit 2): one line on stderr, and still one JSON document with --json
        if args.json:
            print_json({"file": args.file, "ok": False, "verdict": f"BAD INPUT: {exc}", "signatures": []})
        raise
    if args.json:
        print_json({
            "file": args.file, "ok": result.ok, "verdict": result.verdict,
            "signatures": [
                {"field": s.field, "signer": s.signer, "role": s.signer_role, "organisation": s.signer_organisation,
                 "kind": s.kind, "certifies": s.certifies,
                 "certificate_sha256": s.certificate_sha256, "signed_at": s.signed_at, "reason": s.reason,
                 "coverage": s.coverage, "intact": s.intact, "valid": s.valid, "trusted": s.trusted,
                 "trust_checked": s.trust_checked, "modification": s.modification, "bottom_line": s.bottom_line,
                 **long_term_json(s)}
                for s in result.signatures
            ],
            "checked_at": result.checked_at, "ltv": result.ltv,
            "document_timestamps": [{"at": t.at, "tsa": t.tsa, "ok": t.ok} for t in result.document_timestamps],
        })
    else:
        for s in result.signatures:
            role = f" ({s.signer_role})" if s.signer_role else ""
            org = f", {s.signer_organisation}" if s.signer_organisation else ""
            what = (f"certifies the document (later changes allowed: {_PERMITS.get(s.certifies, s.certifies)})"
                    if s.certifies else "approval signature")
            print(f"signature {s.field}: {what}")
            print(f"  signer:   {s.signer}{role}{org} [{'organisation seal' if s.kind == 'seal' else 'person'}]")
            print(f"  cert:     sha256 {s.certificate_sha256}")
            print(f"  time:     {s.signed_at.isoformat() if s.signed_at else 'not stated'} (signer's clock)")
            print(f"  reason:   {s.reason or '-'}")
            print(f"  coverage: {s.coverage}; intact {s.intact}; valid {s.valid}; "
                  f"trusted {s.trusted if s.trust_checked else 'not checked'}")
            print_long_term(s)
            print(f"  verdict:  {s.verdict}")
        print(f"long-term: {result.ltv}")
        print(f"verdict: {result.verdict}")
    return 0 if result.ok else 1


_PERMITS = {"NO_CHANGES": "none", "FILL_FORMS": "signatures and form filling",
            "ANNOTATE": "signatures, form filling and annotations"}


def cmd_pdf_countersign(args: argparse.Namespace) -> int:
    from governance.usecases.export import countersign

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    result = countersign(open_workspace(args), Path(args.file).name, path=Path(args.file),
                         out=Path(args.out) if args.out else None, passphrase=_passphrase())
    if args.json:
        print_json({
            "version_id": result.version_id, "template": result.template_id, "file": str(result.path),
            "sha256": result.sha256, "countersigned_sha256": result.countersigned_sha256, "signer": result.signer,
            "signer_role": result.signer_role, "signers": [s.signer for s in result.signatures],
            "ledger_seq": result.ledger_seq, "ledger_hash": result.ledger_hash,
        })
        return 0
    role = f" ({result.signer_role})" if result.signer_role else ""
    print(f"{result.path}: countersigned by {result.signer}{role}; {len(result.signatures)} signatures "
          f"({', '.join(s.signer for s in result.signatures)}), sha256 {result.sha256}")
    if result.ledger_seq is not None:
        print(f"ledger entry {result.ledger_seq}: {result.ledger_hash}")
    return 0


def cmd_pdf_retimestamp(args: argparse.Namespace) -> int:
    from governance.usecases.archive import RetimestampCommand, retimestamp_pdf

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    out = Path(args.out)
    stamped = retimestamp_pdf(RetimestampCommand(Path(args.file), out, args.tsa, tuple(Path(t) for t in args.trust),
                                                 getattr(args, "workspace", None)))
    ts = stamped.timestamp
    if args.json:
        print_json({"file": str(out), "timestamp": {"at": ts.at, "tsa": ts.tsa},
                    "document_timestamps": stamped.document_timestamps})
    else:
        print(f"{out}: archive timestamp by {ts.tsa} at {ts.at.isoformat(timespec='seconds')}; "
              f"{stamped.document_timestamps} document timestamps")
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from governance.usecases.export import ExportCommand, build_pack

    opened = open_workspace(args)
    vid = _version_id(opened, args)
    out = Path(args.out) if args.out else None  # default: kept in exports/ next to earlier packs
    pack = build_pack(opened, ExportCommand(vid, args.template, out=out, passphrase=_passphrase()),
                      progress_printer(not args.json))
    if args.json:
        print_json({
            "version_id": vid, "file": str(pack.path), "sha256": pack.sha256,
            "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in pack.files],
            "report_sha256": pack.report.sha256, "gaps": len(pack.report.gaps),
            "ledger_range": list(pack.ledger_range) if pack.ledger_range else None,
            "ledger_seq": pack.ledger_seq, "ledger_hash": pack.ledger_hash, "seconds": round(pack.seconds, 3),
        })
        return 0
    print(f"{pack.path}: {len(pack.files) + 1} files, sha256 {pack.sha256}")
    print(f"report {pack.report.sha256} ({pack.report.pages} pages, {len(pack.report.gaps)} evidence gap(s))")
    if pack.ledger_seq is not None:
        print(f"ledger entry {pack.ledger_seq}: {pack.ledger_hash}")
    return 0
