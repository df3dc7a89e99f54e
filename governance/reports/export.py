"""Export a signed report: the one function the CLI and the portal call (role check, build, sign, ledger entry)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.progress import ProgressFn, no_progress
from governance import ledger
from governance.catalog import Catalog
from governance.config import Settings, Workspace, private_dir, private_mode
from governance.identity import Identity, require
from governance.ledger.subjects import version_subject
from governance.reports.assemble import document
from governance.reports.build import BuiltReport, Gap, build_pdf, render
from governance.reports.facts import ReportFacts, collect_facts
from governance.reports.html import render_html
from governance.reports.longterm import timestamp_trust
from governance.reports.sign import sign_pdf
from governance.reports.signers import choose_signer
from governance.reports.template_library import load_template
from governance.reports.templates import Template

DEFAULT_TEMPLATE = "eu-ai-act-annex-iv"


@dataclass(frozen=True)
class ReportExport:
    """A built (and normally signed) report, where it was written and the ledger entry recording it.

    ``html`` is the interactive HTML report built with it (None when the export was asked without it); its sha256
    and file name are in the same ledger entry as the PDF's.
    """

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
    signer_kind: str | None = None  # person | seal
    certificate_pem: bytes | None = None  # the certificate that signed it
    built_at: dt.datetime | None = None
    html: bytes | None = None
    html_sha256: str | None = None
    html_path: Path | None = None


def build_time(value: dt.datetime | None = None) -> dt.datetime:
    """The build time printed in a report and stored as its PDF creation date: naive UTC, whole seconds."""
    value = value or dt.datetime.now(dt.UTC)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def default_filename(version_id: str, template_id: str, suffix: str = ".pdf") -> str:
    """``lab-staging_credit-approval_3__eu-ai-act-annex-iv.pdf`` for a version and template."""
    return f"{version_id.replace(':', '_')}__{template_id}{suffix}"


def archive_path(workspace: Workspace, version_id: str, template_id: str, content: bytes, suffix: str = ".pdf") -> Path:
    """Where an export is kept in the workspace: the readable name plus its content digest, so a later export of
    the same version never replaces an earlier one that the ledger points to (``…__3f2a9c1b04de.pdf``)."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    return workspace.exports_dir / default_filename(version_id, template_id, f"__{digest}{suffix}")


def record_export(workspace: Workspace, catalog: Catalog, identity: Identity, action: str, version_id: str,
                  payload: dict[str, Any], *, staged: Path | None = None, path: Path | None = None,
                  also: tuple[tuple[Path, Path], ...] = ()) -> tuple[int, str]:
    """Record an export in the ledger and put its files in place, as one unit; return the entry's seq and hash.

    ``staged`` is a temporary file holding the export; it becomes ``path`` inside the transaction that appends the
    ledger entry, and so does each (staged, path) pair of ``also`` (the HTML beside a report's PDF). If the entry
    cannot be written no file appears (and the temporary ones are removed), so a file in ``exports/`` always has
    its entry. The new head is then sealed in a checkpoint, like every other write.
    """
    if (staged is None) != (path is None):
        raise ValueError("record_export needs both the staged file and its final path, or neither")
    moves = ([(staged, path)] if staged is not None and path is not None else []) + list(also)
    placed: list[Path] = []
    try:
        with catalog.transaction() as con:
            ledger.require_sealed_tail(workspace, con, f"the export of {version_id}")
            entry = ledger.append(con, actor=identity.email, action=action, subject=version_subject(version_id),
                                  payload=payload)
            for source, target in moves:
                os.replace(source, target)  # last steps before the commit: a failed move rolls the entry back
                placed.append(target)
    except BaseException:
        for source, _target in moves:
            source.unlink(missing_ok=True)
        for target in placed:  # a later move or the commit itself failed after these moves
            target.unlink(missing_ok=True)
        raise
    ledger.seal(workspace, catalog, by=identity.email)
    return entry.seq, entry.hash


def stage(path: Path, content: bytes) -> Path:
    """Write ``content`` next to ``path`` under a temporary name (moved into place by :func:`record_export`)."""
    private_dir(path.parent)  # a new folder is owner-only (0700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    # owner-only (or the group's, in a group-shared workspace) from the first byte, like every file it writes there
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, private_mode(path.parent))
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    return tmp


def prepare(
    workspace: Workspace, settings: Settings, catalog: Catalog, identity: Identity, version_id: str, template_id: str
) -> tuple[ReportFacts, Template]:
    """The facts and template of a report (read only; the caller must hold the export role)."""
    require(identity, "export")
    template = load_template(template_id, workspace.root)
    return collect_facts(workspace, settings, catalog, version_id, identity), template


def html_path_for(pdf_path: Path) -> Path:
    """Where the HTML report of a PDF is written: beside it, the same name with ``.html``."""
    target = pdf_path.with_suffix(".html")
    if target == pdf_path:
        raise InputError(f"{pdf_path}: the report is a PDF; name it FILE.pdf (its HTML goes to FILE.html beside it)")
    return target


def build_unsigned(
    workspace: Workspace, settings: Settings, catalog: Catalog, identity: Identity, version_id: str,
    template_id: str = DEFAULT_TEMPLATE, *, built_at: dt.datetime | None = None,
) -> BuiltReport:
    """The unsigned PDF of a version's report (preview and reproducibility checks): the same records and the same
    ``built_at`` (default: now) give the same bytes."""
    facts, template = prepare(workspace, settings, catalog, identity, version_id, template_id)
    return build_pdf(facts, template, built_at=build_time(built_at), cache_dir=workspace.cache_dir)


def _stage_both(path: Path | None, pdf: bytes, page_path: Path | None,
                page: bytes | None) -> tuple[Path | None, tuple[tuple[Path, Path], ...]]:
    """Stage the PDF and the HTML beside it (owner-only temporary files moved into place with the ledger entry); a
    failure staging the HTML removes the staged PDF."""
    staged = stage(path, pdf) if path is not None else None
    if page_path is None or page is None:
        return staged, ()
    try:
        return staged, ((stage(page_path, page), page_path),)
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise


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
    built_at: dt.datetime | None = None,
    html: bool = True,
    progress: ProgressFn = no_progress,
) -> ReportExport:
    """Build, sign and write the report of ``version_id``; every export is a ledger entry.

    ``out`` writes the PDF to that path; ``archive`` keeps it in the workspace's ``exports/`` under a name that
    carries its digest (:func:`archive_path`), next to every earlier export. The exporter signs with their own key
    or the workspace's seal signs naming them (:func:`governance.reports.signers.choose_signer`); ``built_at``
    (default: now) is printed in the report and is its PDF creation date. ``html`` (default) also builds the
    interactive HTML report from the same facts, written beside the PDF (:func:`html_path_for`); its sha256 and
    file name are in the same ledger entry (``html_sha256``, ``html_file``).
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    progress("collecting evidence", 0.05)
    facts, template = prepare(workspace, settings, catalog, identity, version_id, template_id)
    seconds["collect"] = time.perf_counter() - t0
    built_at = build_time(built_at)
    if html and out is not None:
        html_path_for(Path(out))  # a name the HTML cannot sit beside is refused before anything is built
    chosen = None
    if sign:  # before the build: an exporter who can be given no signature learns it at once
        chosen = choose_signer(workspace, settings, identity, passphrase=passphrase)
    progress("laying out the PDF", 0.3)
    t1 = time.perf_counter()
    # one document for both files: the blocks run and the charts are drawn once
    doc = document(facts, template, built_at=built_at, cache_dir=workspace.cache_dir)
    built = render(doc, facts, template, built_at=built_at, cache_dir=workspace.cache_dir)
    seconds["build"] = time.perf_counter() - t1
    page: bytes | None = None
    if html:
        progress("writing the interactive HTML", 0.6)
        t1 = time.perf_counter()
        page = render_html(doc, facts, template, built_at=built_at, cache_dir=workspace.cache_dir)
        seconds["html"] = time.perf_counter() - t1
    pdf = built.pdf
    if chosen is not None:
        progress("signing (PAdES)", 0.75)
        t2 = time.perf_counter()
        pdf = sign_pdf(
            built.pdf,
            chosen.signer,
            name=chosen.info.name,
            reason=chosen.reason(identity, f"{template.title} {template.version} for {version_id}"),
            location=settings.workspace.name,
            contact=identity.email,
            timestamp_url=settings.signing.timestamp_url,
            fetch_validation_data=settings.signing.fetch_validation_data,
            timestamp_trust=timestamp_trust(workspace, settings),
        )
        seconds["sign"] = time.perf_counter() - t2
    signer_name = chosen.info.name if chosen else None
    path = Path(out) if out is not None else (
        archive_path(workspace, version_id, template.id, pdf) if archive else None)
    page_path = html_path_for(path) if path is not None and page is not None else None
    staged, also = _stage_both(path, pdf, page_path, page)
    digest = hashlib.sha256(pdf).hexdigest()
    page_digest = hashlib.sha256(page).hexdigest() if page is not None else None
    progress("recording the export in the ledger", 0.95)
    seq, entry_hash = record_export(
        workspace, catalog, identity, "report.export", version_id,
        {"template": template.id, "template_version": template.version, "sha256": digest,
         "unsigned_sha256": built.sha256, "signed": sign, "signer": signer_name, "pages": built.pages,
         "gaps": len(built.gaps), "file": path.name if path else None, "facts": built.facts_fingerprint,
         "signer_kind": chosen.kind if chosen else None,
         "certificate_sha256": chosen.info.fingerprint_sha256 if chosen else None,
         "built_at": built_at.isoformat() + "Z", "html_sha256": page_digest,
         "html_file": page_path.name if page_path else None},
        staged=staged, path=path, also=also,
    )
    seconds["total"] = time.perf_counter() - t0
    progress("done", 1.0)
    return ReportExport(
        version_id=version_id, template_id=template.id, template_version=template.version, pdf=pdf, sha256=digest,
        unsigned_sha256=built.sha256, signed=sign, signer=signer_name, signer_role=chosen.info.role if chosen else None,
        pages=built.pages, charts=built.charts, gaps=built.gaps, path=path, ledger_seq=seq, ledger_hash=entry_hash,
        seconds=seconds, signer_kind=chosen.kind if chosen else None,
        certificate_pem=chosen.certificate_pem if chosen else None, built_at=built_at, html=page,
        html_sha256=page_digest, html_path=page_path,
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
    out = [
        ExportRecord(e.seq, e.recorded_at, e.actor, e.action, e.payload.get("template"), e.payload.get("file"),
                     e.payload.get("sha256"), e.hash)
        for e in ledger.entries_for(catalog, f"version:{version_id}")
        if e.action in ("report.export", "report.countersign", "pack.export")
    ]
    return sorted(out, key=lambda r: -r.seq)

