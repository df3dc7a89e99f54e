"""Report templates: versioned TOML data files mapping a regulation's sections to report blocks.

A template lives in ``governance/templates/`` (shipped) or ``<workspace>/templates/`` (an organisation's own; it
wins over a shipped one of the same id). Adding a template is adding a file; see docs/reports.md.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from governance.template_files import SHIPPED_DIR, template_dirs

__all__ = ["SHIPPED_DIR", "Section", "Template", "parse_template", "template_dirs"]


@dataclass(frozen=True)
class Section:
    """One section of a template: heading, regulatory reference, guidance and the blocks that fill it."""

    number: str
    heading: str
    reference: str
    guidance: str
    blocks: tuple[str, ...]
    text: str | None = None

    @property
    def title(self) -> str:
        return f"{self.number}. {self.heading}" if self.number else self.heading


@dataclass(frozen=True)
class Template:
    """A parsed template file."""

    id: str
    title: str
    version: str
    effective: str | None
    regulation: str
    description: str
    sections: tuple[Section, ...]
    path: str
    sha256: str
    # the day a newer template took over (it stays available for earlier records), and which one
    superseded_from: str | None = None
    superseded_by: str | None = None
    # the model card fields this regulation needs filled (governance.cards checks a card against them)
    card_fields: tuple[str, ...] = ()


def parse_template(path: Path, known_blocks: frozenset[str]) -> Template:
    """Read and validate one template file; a :class:`ConfigError` names the file, key and problem."""
    raw = path.read_bytes()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid UTF-8 TOML file ({exc})") from None
    head = doc.get("template")
    if not isinstance(head, dict):
        raise ConfigError(f"{path}: missing [template] table (id, title, version, regulation)")
    for key in ("id", "title", "version", "regulation"):
        if not isinstance(head.get(key), str) or not head[key].strip():
            raise ConfigError(f"{path}: template.{key}: required text is missing")
    if head["id"] != path.stem:
        raise ConfigError(f"{path}: template.id {head['id']!r} must equal the file name {path.stem!r}")
    raw_sections = doc.get("sections")
    if not isinstance(raw_sections, list) or not raw_sections:
        raise ConfigError(f"{path}: needs at least one [[sections]] entry")
    sections = []
    for i, s in enumerate(raw_sections):
        where = f"{path}: sections[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("heading"), str):
            raise ConfigError(f"{where}.heading: required text is missing")
        blocks = s.get("blocks", [])
        if not isinstance(blocks, list) or not all(isinstance(b, str) for b in blocks):
            raise ConfigError(f"{where}.blocks: must be a list of block names")
        unknown = [b for b in blocks if b not in known_blocks]
        if unknown:
            raise ConfigError(f"{where}.blocks: unknown block {unknown[0]!r} (known: {', '.join(sorted(known_blocks))})")
        if not blocks and not s.get("text"):
            raise ConfigError(f"{where}: a section needs blocks or text")
        sections.append(
            Section(
                number=str(s.get("number", "")),
                heading=s["heading"],
                reference=str(s.get("reference", "")),
                guidance=str(s.get("guidance", "")),
                blocks=tuple(blocks),
                text=s.get("text"),
            )
        )
    return Template(
        id=head["id"],
        title=head["title"],
        version=head["version"],
        effective=head.get("effective"),
        regulation=head["regulation"],
        description=str(head.get("description", "")),
        sections=tuple(sections),
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        superseded_from=_dated(head, "superseded_from", path),
        superseded_by=head.get("superseded_by"),
        card_fields=_card_fields(head, path),
    )


def _card_fields(head: dict, path: Path) -> tuple[str, ...]:
    """``template.card_fields``, each a known card field (``connectors.base.CARD_FIELDS``)."""
    from connectors.base import CARD_FIELDS

    value = head.get("card_fields", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: template.card_fields: must be a list of card field names")
    unknown = [v for v in value if v not in CARD_FIELDS]
    if unknown:
        raise ConfigError(f"{path}: template.card_fields: unknown card field {unknown[0]!r} "
                          f"(known: {', '.join(CARD_FIELDS)})")
    return tuple(value)


def _dated(head: dict, key: str, path: Path) -> str | None:
    """``template.<key>`` as an ISO date text, or None; a value that is no date is a :class:`ConfigError`."""
    import datetime as dt

    value = head.get(key)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"{path}: template.{key}: {value!r} is not a date (YYYY-MM-DD)") from None
