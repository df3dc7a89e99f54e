"""Signed reports and audit packs of a version, as the Export page, the export panel of Review and Requests, and
the CLI (``report``, ``pack``, ``pdf countersign``) make them. Every export goes through ``governance.reports``
(role check, signature, ledger entry); this module only gathers what the screens show."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import CountersignError
from core.progress import ProgressFn, no_progress
from governance.context import Context
from governance.usecases.selection import Choice, Wanted, choose

if TYPE_CHECKING:
    from governance.reports.export import ExportRecord, ReportExport
    from governance.reports.pack import AuditPack
    from governance.reports.signers import SigningPlan

SEAL = "seal"  # governance.reports.signers.SEAL: an export sealed with the organisation's certificate


@dataclass(frozen=True)
class TemplateChoice:
    """A report template as the picker lists it."""

    id: str
    title: str
    version: str


@dataclass(frozen=True)
class ExportPanelView:
    """The export panel: the templates to pick from and whether this person may export."""

    templates: tuple[TemplateChoice, ...]
    can_export: bool
    error: CountersignError | None = None  # the templates could not be read


@dataclass(frozen=True)
class ExportQuery:
    """The version asked for."""

    version: Wanted = field(default_factory=Wanted)


@dataclass(frozen=True)
class ExportView:
    """The Export page: the version picked, who signs, the panel, the exports made before, what may be countersigned."""

    choice: Choice
    panel: ExportPanelView
    plan: SigningPlan | None = None  # None: this person may not export
    signs_personally: bool = False
    history: tuple[ExportRecord, ...] = ()
    countersignable: tuple[ExportRecord, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the catalog holds no version yet."""
        return not self.choice.options


@dataclass(frozen=True)
class ExportCommand:
    """Build, sign and record the report of ``version_id`` laid out by ``template_id``."""

    version_id: str
    template_id: str
    out: Path | None = None  # default: kept in exports/ next to earlier exports
    sign: bool = True
    html: bool = True
    built_at: Any = None
    passphrase: bytes | None = None


def open_export_panel(ctx: Context) -> ExportPanelView:
    """The templates an export may use (the workspace's own first) and whether ``ctx``'s identity may export."""
    from governance.reports.template_library import list_templates

    can = ctx.identity.can("export")
    try:
        templates = tuple(TemplateChoice(t.id, t.title, t.version) for t in list_templates(ctx.workspace.root))
    except CountersignError as exc:
        return ExportPanelView((), can, exc)
    return ExportPanelView(templates, can)


def open_export(ctx: Context, query: ExportQuery) -> ExportView:
    """The Export page's one call."""
    from governance.reports.export import export_history
    from governance.reports.signers import signing_plan, signs_personally

    ids = tuple(r["version_id"] for r in ctx.catalog.inventory_rows())
    choice = choose(ids, query.version)
    panel = open_export_panel(ctx)
    if choice.value is None:
        return ExportView(choice, panel)
    history = tuple(export_history(ctx.catalog, choice.value))
    can = ctx.identity.can("export")
    personal = can and signs_personally(ctx.settings, ctx.identity)
    kept = tuple(h for h in history if h.action in ("report.export", "report.countersign") and h.file
                 and h.file.endswith(".pdf") and (ctx.workspace.exports_dir / h.file).exists())
    return ExportView(choice, panel, signing_plan(ctx.workspace, ctx.settings, ctx.identity) if can else None,
                      personal, history, kept)


def export_report(ctx: Context, command: ExportCommand, progress: ProgressFn = no_progress) -> ReportExport:
    """Build, sign and record a report as ``ctx``'s identity (``countersign report``, the Build button)."""
    from governance.reports.export import export_report as build

    return build(ctx.workspace, ctx.settings, ctx.catalog, ctx.identity, command.version_id, command.template_id,
                 out=command.out, archive=command.out is None, built_at=command.built_at, sign=command.sign,
                 passphrase=command.passphrase, progress=progress, html=command.html)


def build_pack(ctx: Context, command: ExportCommand, progress: ProgressFn = no_progress) -> AuditPack:
    """Write the audit pack of a version as ``ctx``'s identity (``countersign pack``, the Build audit pack button)."""
    from governance.reports.pack import build_pack as build

    return build(ctx.workspace, ctx.settings, ctx.catalog, ctx.identity, command.version_id, command.template_id,
                 out=command.out, passphrase=command.passphrase, progress=progress)


def countersign(ctx: Context, file_name: str, *, path: Path | None = None, out: Path | None = None,
                passphrase: bytes | None = None) -> Any:
    """Add ``ctx``'s identity's approval signature to a report this workspace exported (by its file name in
    exports/, or ``path`` anywhere)."""
    from governance.reports.countersign import countersign_export, countersign_file

    if path is not None:
        return countersign_file(ctx.workspace, ctx.settings, ctx.catalog, ctx.identity, path, out=out,
                                passphrase=passphrase)
    return countersign_export(ctx.workspace, ctx.settings, ctx.catalog, ctx.identity, file_name)


def page_preview(path: Path) -> bytes | None:
    """Page 1 of a PDF as a PNG (None when poppler is not installed)."""
    from governance.reports.preview import can_preview, page_png

    return page_png(path.read_bytes(), page=1, dpi=70) if can_preview() else None


def default_filename(version_id: str, template_id: str, suffix: str = ".pdf") -> str:
    """The file name a download of a version's report gets."""
    from governance.reports.export import default_filename as name

    return name(version_id, template_id, suffix)


def previews_available() -> bool:
    """Whether page previews can be drawn here (poppler-utils installed)."""
    from governance.reports.preview import can_preview

    return can_preview()
