"""Retention: how long each kind of artefact is kept, and a purge that refuses anything still under retention.

``[policy.retention]`` keeps a period per kind (:class:`governance.config.RetentionPolicy`):

- ``documentation`` (EU AI Act Art. 18: 10 years): reports, audit packs, the ledger's signed checkpoints;
- ``logs`` (Art. 19 and Art. 26(6): at least 6 months; the setting refuses less): operational logs;
- ``evidence``: analytics evidence the reports cite;
- ``cache``: copies of artifacts and datasets fetched from registries (fetched again when needed).

A file's age counts from the day Countersign recorded it — for an export, its ledger entry (a file whose date was
set back is kept by its ledger date); else from its own date (a checkpoint's name, a file's modification time).
:func:`purge` (``admin``) deletes files of ``exports/``, ``checkpoints/`` and ``cache/`` only when none of them is
still under retention (all or nothing), after recording each file's sha256 in the ledger (``retention.purge``).
The catalog, its ledger table, the signed head and the keys are never purged. The audit pack carries
``RETENTION.json``: each file, its kind and the day until which it must be kept (:func:`pack_retention`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.clock import utcnow
from core.errors import ConflictError, InputError
from core.hashing import sha256_file
from governance import ledger
from governance.config import Settings
from governance.context import Context
from governance.identity import require
from governance.ledger.signed_head import HEAD_FILE

KINDS = ("documentation", "logs", "evidence", "cache")
BASIS = {
    "documentation": "EU AI Act Art. 18: documentation kept 10 years",
    "logs": "EU AI Act Art. 19/26(6): logs kept at least 6 months",
    "evidence": "evidence the reports cite, kept with them",
    "cache": "a copy fetched from a registry (fetched again when needed)",
}
SUBJECT = "retention"


def period_days(settings: Settings, kind: str) -> int:
    """The keep period of ``kind`` in days, from ``[policy.retention]``."""
    if kind not in KINDS:
        raise InputError(f"unknown artefact kind {kind!r} (known: {', '.join(KINDS)})")
    return int(getattr(settings.policy.retention, f"{kind}_days"))


def keep_until(settings: Settings, kind: str, created: dt.date) -> dt.date:
    """The day until which an artefact of ``kind`` created on ``created`` must be kept."""
    return created + dt.timedelta(days=period_days(settings, kind))


def basis(settings: Settings, kind: str) -> str:
    """Why ``kind`` is kept that long, with the setting that says so."""
    return f"{BASIS[kind]} ([policy.retention] {kind}_days = {period_days(settings, kind)})"


# -- the audit pack -----------------------------------------------------------------------------------------------


def member_kind(name: str) -> str:
    """The kind of an audit pack member: evidence files are evidence, everything else documentation."""
    return "evidence" if name.startswith("evidence/") else "documentation"


def pack_retention(settings: Settings, names: Iterable[str], built_on: dt.date) -> dict[str, Any]:
    """``RETENTION.json`` of an audit pack: for each member, its kind and the day until which it must be kept."""
    files = {}
    for name in sorted(names):
        kind = member_kind(name)
        files[name] = {"kind": kind, "keep_until": keep_until(settings, kind, built_on).isoformat(),
                       "basis": basis(settings, kind)}
    longest = max((f["keep_until"] for f in files.values()), default=built_on.isoformat())
    return {"built_on": built_on.isoformat(), "keep_pack_until": longest, "files": files,
            "note": "RETENTION.json and SHA256SUMS are kept as long as the pack itself (keep_pack_until)."}


# -- workspace files ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetainedFile:
    """One file of the workspace under the retention policy."""

    path: Path
    kind: str
    created: dt.datetime
    source: str  # ledger (an export's entry) | name (a checkpoint's timestamp) | file (modification time)
    keep_until: dt.date
    sha256: str | None = None

    def held(self, on: dt.date) -> bool:
        """Whether the file is still under retention on ``on``."""
        return on < self.keep_until

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _kind_of(ctx: Context, path: Path) -> str:
    """The kind of a workspace file a purge may touch; anything else is refused."""
    ws = ctx.workspace
    resolved = path.resolve()
    for folder, kind in ((ws.exports_dir, "documentation"), (ws.checkpoints_dir, "documentation"),
                         (ws.cache_dir, "cache")):
        if resolved.is_relative_to(folder.resolve()):
            if resolved.name in (HEAD_FILE,) or (resolved.parent != folder.resolve() and kind != "cache"):
                break
            return kind
    raise InputError(f"{path}: only files of exports/, checkpoints/ and cache/ can be purged (never the catalog, "
                     "the signed ledger head or the keys)")


def _created(ctx: Context, path: Path, kind: str) -> tuple[dt.datetime, str, str | None]:
    """When ``path`` was recorded: its export's ledger entry, a checkpoint's name, else its modification time."""
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    digest = None
    if path.parent == ctx.workspace.exports_dir and path.is_file():
        digest = sha256_file(path)
        entry = ctx.catalog.ledger_entry_recorded_at(("report.export", "pack.export"), digest)
        if entry is not None:
            return max(entry, mtime), "ledger", digest
    if path.name.startswith("ledger-") and path.parent == ctx.workspace.checkpoints_dir:
        try:
            stamp = dt.datetime.strptime(path.stem.rsplit("-", 1)[1], "%Y%m%dT%H%M%S%f")
            return max(stamp, mtime), "name", digest
        except (IndexError, ValueError):
            pass
    return mtime, "file", digest


def _retained(ctx: Context, path: Path) -> RetainedFile:
    kind = _kind_of(ctx, path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    created, source, digest = _created(ctx, path, kind)
    return RetainedFile(path, kind, created, source, keep_until(ctx.settings, kind, created.date()), digest)


def workspace_files(ctx: Context) -> list[RetainedFile]:
    """Every file of exports/, checkpoints/ and cache/ with the day until which it must be kept (needs "view")."""
    require(ctx.identity, "view")
    ws = ctx.workspace
    paths = [p for d in (ws.exports_dir, ws.checkpoints_dir) if d.is_dir() for p in sorted(d.iterdir())
             if p.is_file() and p.name != HEAD_FILE and not p.name.startswith(".")]
    if ws.cache_dir.is_dir():
        paths += sorted(p for p in ws.cache_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [_retained(ctx, p) for p in paths]


@dataclass(frozen=True)
class PurgeResult:
    """What a purge deleted."""

    files: tuple[RetainedFile, ...]
    ledger_hash: str | None


def purge(ctx: Context, paths: Sequence[Path], *, now: dt.datetime | None = None) -> PurgeResult:
    """Delete ``paths`` when none is under retention any more (all or nothing), recording each in the ledger."""
    require(ctx.identity, "purge")
    moment = now or utcnow()
    found = [_retained(ctx, Path(p)) for p in paths]
    held = [f for f in found if f.held(moment.date())]
    if held:
        listed = "; ".join(f"{f.path.name} ({f.kind}) until {f.keep_until}" for f in held[:5])
        raise ConflictError(f"refused: {len(held)} file(s) under retention, nothing was deleted: {listed} "
                            f"(see 'countersign retention list'; periods in [policy.retention])")
    files = [f if f.sha256 else RetainedFile(f.path, f.kind, f.created, f.source, f.keep_until, sha256_file(f.path))
             for f in found]
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, "the purge")
        entry = ledger.append(con, actor=ctx.identity.email, action="retention.purge", subject=SUBJECT, at=moment,
                              payload={"files": [{"path": str(f.path.relative_to(ctx.workspace.root)),
                                                  "kind": f.kind, "sha256": f.sha256, "created": f.created,
                                                  "keep_until": f.keep_until} for f in files]})
    for f in files:
        f.path.unlink()
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return PurgeResult(tuple(files), entry.hash)
