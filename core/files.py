"""File modes of a workspace: owner-only, unless its folder is shared with a group on purpose."""

from __future__ import annotations

import stat
from pathlib import Path


def group_shared(folder: Path) -> bool:
    """Whether ``folder`` is shared with its group: setgid and group-writable (``chmod 2770``; docs/signoff.md, a
    workspace shared by several users). Countersign then creates everything in it for the group, not its owner."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_ISGID) and mode & 0o070 == 0o070


def private_mode(folder: Path) -> int:
    """The mode of a file Countersign creates in ``folder``: 0600, or 0660 in a group-shared folder."""
    return 0o660 if group_shared(folder) else 0o600
