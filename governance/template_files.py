"""Where report templates live and which version each file declares: read by the report templates and by the
policy's version name (:func:`governance.policy.policy_version`), below both, so neither imports the other.

A template lives in ``governance/templates/`` (shipped) or ``<workspace>/templates/`` (an organisation's own; it
wins over a shipped one of the same id).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent / "templates"


def template_dirs(workspace_root: Path | None = None) -> tuple[Path, ...]:
    """Folders searched for templates, the workspace's own first."""
    dirs = [SHIPPED_DIR]
    if workspace_root is not None:
        dirs.insert(0, workspace_root / "templates")
    return tuple(dirs)


def template_versions(workspace_root: Path | None = None) -> dict[str, str]:
    """Each available template's id and the ``version`` its file declares (``?`` when it declares none; an
    unreadable file is left out: loading it as a template says what is wrong with it)."""
    found: dict[str, str] = {}
    for folder in reversed(template_dirs(workspace_root)):
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            try:
                head = tomllib.loads(path.read_text(encoding="utf-8")).get("template") or {}
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                continue
            found[path.stem] = str(head.get("version", "?"))
    return found
