"""Archive timestamps of a signed PDF, as ``countersign pdf retimestamp`` renews them (docs/reports.md).

Like the file-level drift (:mod:`governance.usecases.files`) this takes no :class:`~governance.context.Context`: the
PDF may come from anywhere, nothing is recorded in a catalog and no role is checked. A workspace, when the flags leave
the TSA or the anchor out, only lends its ``[signing] timestamp_url`` and ``timestamp_trust``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from governance.reports.longterm import ArchiveStamp


@dataclass(frozen=True)
class RetimestampCommand:
    """Renew ``source``'s document timestamp into ``out`` with the TSA ``tsa``, its last timestamp checked against
    ``trust``; what is left None/empty comes from ``workspace``'s ``[signing]``."""

    source: Path
    out: Path
    tsa: str | None = None
    trust: tuple[Path, ...] = ()
    workspace: str | None = None


def _signing_defaults(command: RetimestampCommand) -> tuple[str | None, tuple[Path, ...]]:
    """The TSA and the anchors: the command's, else the workspace's ``[signing]``."""
    if command.tsa and command.trust:
        return command.tsa, command.trust
    from governance.config import load_settings, resolve_workspace
    from governance.reports.longterm import timestamp_trust

    try:
        workspace = resolve_workspace(command.workspace, {})
        settings = load_settings(workspace)
    except ConfigError as exc:
        raise InputError(f"name the time-stamping service and the anchor its last timestamp chains to (--tsa URL "
                         f"--trust CA.pem), or run in a workspace whose [signing] names them ({exc})") from None
    return (command.tsa or settings.signing.timestamp_url,
            command.trust or timestamp_trust(workspace, settings))


def retimestamp_pdf(command: RetimestampCommand) -> ArchiveStamp:
    """Write ``command.source`` with an archive timestamp to ``command.out`` (the source is left as it is)."""
    from governance.reports.longterm import add_archive_timestamp

    tsa, trust = _signing_defaults(command)
    if not tsa:
        raise InputError("name the time-stamping service: --tsa URL, or [signing] timestamp_url")
    if command.out.resolve() == command.source.resolve():
        raise InputError(f"--out {command.out} is the file given: write the renewed PDF beside it")
    try:
        data = command.source.read_bytes()
    except OSError as exc:
        raise InputError(f"{command.source}: cannot read it ({exc.strerror})") from None
    stamped = add_archive_timestamp(data, tsa, trust)
    command.out.write_bytes(stamped.pdf)
    return stamped
