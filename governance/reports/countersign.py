"""Countersign an exported report: a later approver adds their own approval signature after the certification.

A report's first signature certifies it and allows later signatures only (``governance.reports.sign``), so a
second risk officer can sign the same bytes again without invalidating the first signature; any other change
still fails ``countersign pdf verify``. Only a report this workspace exported (its sha256 is in a ledger entry)
can be countersigned, and each countersignature is a ledger entry of its own (``report.countersign``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConflictError, InputError, NotFound, SignatureInvalid
from governance.catalog import Catalog
from governance.config import Settings, Workspace
from governance.identity import Identity, require
from governance.reports.export import archive_path, record_export, stage
from governance.reports.longterm import timestamp_trust
from governance.reports.sign import COUNTERSIGNATURE_FIELD, SignatureCheck, sign_pdf, verify_pdf
from governance.reports.signers import personal_signer

# actions whose entries record a report file (sha256 in the payload) that may be countersigned
REPORT_ACTIONS = ("report.export", "report.countersign")


@dataclass(frozen=True)
class Countersigned:
    """A countersigned report: where it was written, its signatures and the ledger entry recording it."""

    version_id: str
    template_id: str | None
    pdf: bytes
    sha256: str
    countersigned_sha256: str
    signer: str
    signer_role: str | None
    signatures: tuple[SignatureCheck, ...]
    path: Path | None
    ledger_seq: int | None
    ledger_hash: str | None


def recorded_report(catalog: Catalog, sha256: str) -> tuple[str, dict]:
    """The version and ledger payload of the export (or countersignature) that wrote the file with ``sha256``."""
    entry = catalog.ledger_entry_for_file(REPORT_ACTIONS, sha256)
    if entry is None or not str(entry["subject"]).startswith("version:"):
        raise NotFound(f"no export with sha256 {sha256[:12]}… in this workspace's ledger: only a report exported "
                       f"here (or countersigned here) can be countersigned")
    return str(entry["subject"]).removeprefix("version:"), json.loads(entry["payload"])


def countersign_pdf(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    identity: Identity,
    pdf: bytes,
    *,
    out: Path | None = None,
    passphrase: bytes | None = None,
) -> Countersigned:
    """Add ``identity``'s approval signature to a report this workspace exported; write it and record it.

    Refused with a clear error when ``identity`` does not sign personally or has no key, when the report does not
    verify, was certified to allow no later signature, is not in the ledger, or already carries their signature.
    The result is written to ``out``, else kept in ``exports/`` next to the report it countersigns.
    """
    require(identity, "export")
    chosen = personal_signer(workspace, settings, identity, passphrase=passphrase)
    before = hashlib.sha256(pdf).hexdigest()
    checked = verify_pdf(pdf)
    if not checked.ok:
        raise SignatureInvalid(f"cannot countersign a report that does not verify: {checked.verdict}")
    first = checked.signatures[0]
    if first.certifies not in ("FILL_FORMS", "ANNOTATE"):  # the DocMDP levels that allow later signatures
        raise ConflictError(
            f"the report's first signature ({first.signer}) "
            + ("allows no later signature" if first.certifies else "does not certify it")
            + ": export the report again to countersign it")
    if any(s.certificate_sha256 == chosen.info.fingerprint_sha256 for s in checked.signatures):
        raise ConflictError(f"{identity.email} has already signed this report")
    version_id, recorded = recorded_report(catalog, before)

    role = f" ({chosen.info.role})" if chosen.info.role else ""
    signed = sign_pdf(
        pdf,
        chosen.signer,
        name=chosen.info.name,
        reason=f"Countersigned by {identity.label}{role}: approves the report for {version_id} signed by "
        f"{first.signer} (sha256 {before[:12]})",
        location=settings.workspace.name,
        contact=identity.email,
        certify=False,
        timestamp_url=settings.signing.timestamp_url,
        fetch_validation_data=settings.signing.fetch_validation_data,
        timestamp_trust=timestamp_trust(workspace, settings),
        field_name=f"{COUNTERSIGNATURE_FIELD}{len(checked.signatures)}",
    )
    after = verify_pdf(signed)
    if not after.ok:  # our own signature must verify before anything is written or recorded
        raise SignatureInvalid(f"the countersigned report does not verify: {after.verdict}")
    digest = hashlib.sha256(signed).hexdigest()
    template_id = recorded.get("template")
    path = Path(out) if out is not None else archive_path(workspace, version_id, template_id or "report", signed)
    staged = stage(path, signed)  # owner-only like every export, in place only with its ledger entry
    seq, entry_hash = record_export(
        workspace, catalog, identity, "report.countersign", version_id,
        {"template": template_id, "sha256": digest, "countersigned_sha256": before, "signer": chosen.info.name,
         "signer_kind": chosen.kind, "certificate_sha256": chosen.info.fingerprint_sha256,
         "signatures": len(after.signatures), "file": path.name},
        staged=staged, path=path,
    )
    return Countersigned(
        version_id=version_id, template_id=template_id, pdf=signed, sha256=digest, countersigned_sha256=before,
        signer=chosen.info.name, signer_role=chosen.info.role, signatures=after.signatures, path=path,
        ledger_seq=seq, ledger_hash=entry_hash,
    )


def countersign_file(workspace: Workspace, settings: Settings, catalog: Catalog, identity: Identity, path: Path,
                     *, out: Path | None = None, passphrase: bytes | None = None) -> Countersigned:
    """:func:`countersign_pdf` of the file at ``path`` (the CLI's ``pdf countersign FILE``)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    if not data.startswith(b"%PDF"):
        raise InputError(f"{path}: not a PDF file")
    return countersign_pdf(workspace, settings, catalog, identity, data, out=out, passphrase=passphrase)


def countersign_export(workspace: Workspace, settings: Settings, catalog: Catalog, identity: Identity,
                       file_name: str, *, passphrase: bytes | None = None) -> Countersigned:
    """Countersign a report kept in the workspace's ``exports/`` by its file name (the Export page's action)."""
    if not file_name or Path(file_name).name != file_name or not file_name.endswith(".pdf"):
        raise InputError(f"{file_name!r} is not the name of a report in {workspace.exports_dir}")
    return countersign_file(workspace, settings, catalog, identity, workspace.exports_dir / file_name,
                            passphrase=passphrase)
