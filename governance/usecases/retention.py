"""Keep periods per artefact ([policy.retention]), as the Audit page's retention section and ``countersign
retention`` see and act on them (docs/lifecycle.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from governance.context import Context

if TYPE_CHECKING:
    from governance.retention import PurgeResult, RetainedFile


@dataclass(frozen=True)
class RetentionView:
    """Every file of exports/, checkpoints/ and cache/ with until when it is kept, judged on ``today``."""

    root: Path
    today: dt.date
    files: tuple[RetainedFile, ...] = field(default=())

    @property
    def held(self) -> int:
        """How many files are still under retention today."""
        return sum(f.held(self.today) for f in self.files)

    def relative(self, f: RetainedFile) -> Path:
        """``f``'s path inside the workspace."""
        return f.path.relative_to(self.root)


@dataclass(frozen=True)
class PurgeCommand:
    """Delete these files, all or nothing, when none is under retention any more (admins; recorded)."""

    paths: tuple[Path, ...]


def open_retention(ctx: Context, *, today: dt.date | None = None) -> RetentionView:
    """The retention section's and ``countersign retention list``'s one call."""
    from core.clock import utcnow
    from governance.retention import workspace_files

    return RetentionView(ctx.workspace.root, today or utcnow().date(), tuple(workspace_files(ctx)))


def purge(ctx: Context, command: PurgeCommand) -> PurgeResult:
    """Purge as ``ctx``'s identity (``countersign retention purge``)."""
    from governance.retention import purge as run

    return run(ctx, list(command.paths))
