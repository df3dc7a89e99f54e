"""Export a signed report: the one function the CLI and the portal call (role check, build, sign, ledger entry)."""

from __future__ import annotations

import hashlib
import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.base import ProgressFn, no_progress
from governance.catalog import Catalog
from governance.config import Settings, Workspace
from governance.identity import Identity, require
from governance.reports.build import BuiltReport, Gap, build_pdf
from governance.reports.facts import ReportFacts, collect_facts
from governance.reports.keys import load_signer, signer_info
from governance.reports.sign import sign_pdf
from governance.reports.templates import Template, load_template

DEFAULT_TEMPLATE = "eu-ai-act-annex-iv"


@dataclass(frozen=True)
class ReportExport:
    """A built (and normally signed) report, where it was written and the ledger entry recording it."""

    version_id: str
    template_id: str
    template_version: str
    pdf: bytes
    sha256: str
    unsigned_sha256: str
    signed: bool
    signer: str | None
    signer_role: str | None
    pages: int
    charts: int
    gaps: tuple[Gap, ...]
    path: Path | None
    ledger_seq: int | None
    ledger_hash: str | None
    seconds: dict[str, float]


def default_filename(version_id: str, template_id: str, suffix: str = ".pdf") -> str:
    """``lab-staging_credit-approval_3__eu-ai-act-annex-iv.pdf`` for a version and template."""
    return f"{version_id.replace(':', '_')}__{template_id}{suffix}"


def archive_path(workspace: Workspace, version_id: str, template_id: str, content: bytes, suffix: str = ".pdf") -> Path:
    """Where an export is kept in the workspace: the readable name plus its content digest, so a later export of
    the same version never replaces an earlier one that the ledger points to (``…__3f2a9c1b04de.pdf``)."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    return workspace.exports_dir / default_filename(version_id, template_id, f"__{digest}{suffix}")


def record_export(workspace: Workspace, catalog: Catalog, identity: Identity, action: str, version_id: str,
                  payload: dict[str, Any]) -> tuple[int | None, str | None]:
    """Append the export to the ledger and seal it in a checkpoint, like every other write; return seq and hash."""
    try:
        ledger = importlib.import_module("governance.ledger")
    except ModuleNotFoundError:
        return None, None
    entry = ledger.append(catalog, actor=identity.email, action=action, subject=f"version:{version_id}",
                          payload=payload)
    ledger.seal(workspace, catalog, by=identity.email)
    return entry.seq, entry.hash


def prepare(
    workspace: Workspace, settings: Settings, catalog: Catalog, identity: Identity, version_id: str, template_id: str
) -> tuple[ReportFacts, Template]:
    """The facts and template of a report (read only; the caller must hold the export role)."""
    require(identity, "export")
    template = load_template(template_id, workspace.root)
    return collect_facts(workspace, settings, catalog, version_id, identity), template


def build_unsigned(
    workspace: Workspace, settings: Settings, catalog: Catalog, identity: Identity, version_id: str,
    template_id: str = DEFAULT_TEMPLATE,
) -> BuiltReport:
    """The unsigned, deterministic PDF of a version's report (preview and reproducibility checks)."""
    facts, template = prepare(workspace, settings, catalog, identity, version_id, template_id)
    return build_pdf(facts, template)


def export_report(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    identity: Identity,
    version_id: str,
    template_id: str = DEFAULT_TEMPLATE,
    *,
    out: Path | None = None,
    archive: bool = False,
    sign: bool = True,
    passphrase: bytes | None = None,
    progress: ProgressFn = no_progress,
) -> ReportExport:
    """Build, sign and write the report of ``version_id``; every export is a ledger entry.

    ``out`` writes the PDF to that path; ``archive`` keeps it in the workspace's ``exports/`` under a name that
    carries its digest (:func:`archive_path`), next to every earlier export.
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    progress("collecting evidence", 0.05)
    facts, template = prepare(workspace, settings, catalog, identity, version_id, template_id)
    seconds["collect"] = time.perf_counter() - t0
    progress("laying out the PDF", 0.3)
    t1 = time.perf_counter()
    built = build_pdf(facts, template)
    seconds["build"] = time.perf_counter() - t1
    pdf, signer_name, signer_role = built.pdf, None, None
    if sign:
        progress("signing (PAdES)", 0.75)
        t2 = time.perf_counter()
        signer = load_signer(workspace, settings, passphrase=passphrase)
        from cryptography import x509

        who = signer_info(x509.load_der_x509_certificate(signer.signing_cert.dump()))
        signer_name, signer_role = who.name, who.role
        role = f" ({who.role})" if who.role else ""
        pdf = sign_pdf(
            built.pdf,
            signer,
            name=who.name,
            reason=f"{template.title} {template.version} for {version_id}, signed by {who.name}{role}; "
            f"exported by {identity.label}",
            location=settings.workspace.name,
            contact=who.email or identity.email,
        )
        seconds["sign"] = time.perf_counter() - t2
    path = Path(out) if out is not None else (
        archive_path(workspace, version_id, template.id, pdf) if archive else None)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)
    digest = hashlib.sha256(pdf).hexdigest()
    progress("recording the export in the ledger", 0.95)
    seq, entry_hash = record_export(
        workspace, catalog, identity, "report.export", version_id,
        {"template": template.id, "template_version": template.version, "sha256": digest,
         "unsigned_sha256": built.sha256, "signed": sign, "signer": signer_name, "pages": built.pages,
         "gaps": len(built.gaps), "file": path.name if path else None, "facts": built.facts_fingerprint},
    )
    seconds["total"] = time.perf_counter() - t0
    progress("done", 1.0)
    return ReportExport(
        version_id=version_id, template_id=template.id, template_version=template.version, pdf=pdf, sha256=digest,
        unsigned_sha256=built.sha256, signed=sign, signer=signer_name, signer_role=signer_role, pages=built.pages,
        charts=built.charts, gaps=built.gaps, path=path, ledger_seq=seq, ledger_hash=entry_hash, seconds=seconds,
    )


@dataclass(frozen=True)
class ExportRecord:
    """One past export of a version, as the ledger recorded it."""

    seq: int
    recorded_at: Any
    actor: str
    action: str
    template: str | None
    file: str | None
    sha256: str | None
    hash: str


def export_history(catalog: Catalog, version_id: str) -> list[ExportRecord]:
    """Reports and packs exported for ``version_id``, newest first (from the ledger)."""
    try:
        ledger = importlib.import_module("governance.ledger")
    except ModuleNotFoundError:
        return []
    out = [
        ExportRecord(e.seq, e.recorded_at, e.actor, e.action, e.payload.get("template"), e.payload.get("file"),
                     e.payload.get("sha256"), e.hash)
        for e in ledger.entries_for(catalog, f"version:{version_id}")
        if e.action in ("report.export", "pack.export")
    ]
    return sorted(out, key=lambda r: -r.seq)

