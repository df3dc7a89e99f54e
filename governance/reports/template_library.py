"""The templates available to a workspace, each checked against the report block registry.

:mod:`governance.reports.templates` parses one template file and knows nothing of the blocks;
:mod:`governance.reports.blocks` registers them. This module joins the two (so neither imports the other back): it
lists and loads templates, refusing a block name the block registry does not have.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import NotFound
from governance.reports.blocks import known as known_blocks
from governance.reports.templates import Template, parse_template, template_dirs


def list_templates(workspace_root: Path | None = None) -> list[Template]:
    """Every available template, sorted by id (a workspace template overrides a shipped one)."""
    found: dict[str, Template] = {}
    for d in reversed(template_dirs(workspace_root)):
        if d.is_dir():
            for p in sorted(d.glob("*.toml")):
                t = parse_template(p, frozenset(known_blocks()))
                found[t.id] = t
    return [found[k] for k in sorted(found)]


def load_template(template_id: str, workspace_root: Path | None = None) -> Template:
    """The template called ``template_id``."""
    for d in template_dirs(workspace_root):
        p = d / f"{template_id}.toml"
        if p.is_file():
            return parse_template(p, frozenset(known_blocks()))
    known = ", ".join(t.id for t in list_templates(workspace_root)) or "none"
    raise NotFound(f"unknown report template {template_id!r} (known: {known})")
