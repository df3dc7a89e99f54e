"""Regulation packs as dated data: which regime applied on a date, and which phase comes next.

The rules move (SR 26-2 replaced SR 11-7 on 2026-04-17; the EU AI Act's 2026 "digital omnibus" moved its high-risk
dates), so a report must name the regime in force *on its own date*, not today's. The phases live in
``governance/data/regimes.toml`` (one file, dated data, no code); a workspace may keep its own copy as
``<workspace>/regimes.toml``, which wins. ``[policy] regimes`` names the regimes a workspace applies and
``[policy] effective_from`` the day its policy took effect; ``[models.NAME] ai_act_classification`` picks the AI
Act phases that apply to a model (``high_risk_annex_iii`` for credit scoring, ``high_risk_product`` for AI in
regulated products).

Templates carry their own dates too (``effective``, and ``superseded_from`` / ``superseded_by``):
:func:`template_status` says whether a template was current on a date.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from governance.config import AI_ACT_CLASSES, ModelConfig, Settings

SHIPPED = Path(__file__).resolve().parent / "data" / "regimes.toml"
WORKSPACE_FILE = "regimes.toml"


@dataclass(frozen=True)
class Phase:
    """One dated phase of a regime: from (inclusive) until (exclusive, None: open-ended), what it asks."""

    start: dt.date
    until: dt.date | None
    title: str
    text: str
    applies_to: tuple[str, ...] = ()  # AI Act classifications it concerns; empty: every model

    def in_force(self, on: dt.date) -> bool:
        """Whether this phase applies on ``on``."""
        return self.start <= on and (self.until is None or on < self.until)

    def concerns(self, classification: str | None) -> bool:
        """Whether a model of ``classification`` is subject to this phase (unknown class: every phase, to be safe)."""
        return not self.applies_to or classification is None or classification in self.applies_to


@dataclass(frozen=True)
class Regime:
    """A regulation or supervisory statement as dated phases."""

    id: str
    name: str
    issuer: str
    template: str | None
    superseded_by: str | None
    phases: tuple[Phase, ...]


@dataclass(frozen=True)
class RegimeState:
    """Where one regime stands on a date for one model: the phases in force, the next one, and supersession."""

    regime: Regime
    on: dt.date
    in_force: tuple[Phase, ...]
    next: Phase | None
    superseded: tuple[str, dt.date] | None = None  # (successor's name, since) when the regime no longer applies

    def describe(self) -> str:
        """One line: ``SR 26-2: in force since 2026-04-17 (…)``; next: …"""
        if self.superseded:
            return f"{self.regime.name}: superseded by {self.superseded[0]} since {self.superseded[1]:%Y-%m-%d}"
        now = "; ".join(f"{p.title} (since {p.start:%Y-%m-%d})" for p in self.in_force) or "not yet in force"
        nxt = f"; next: {self.next.title} from {self.next.start:%Y-%m-%d}" if self.next else ""
        return f"{self.regime.name}: {now}{nxt}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"regime": self.regime.id, "name": self.regime.name, "on": self.on.isoformat(),
                "in_force": [_phase_dict(p) for p in self.in_force],
                "next": _phase_dict(self.next) if self.next else None,
                "superseded": {"by": self.superseded[0], "since": self.superseded[1].isoformat()}
                if self.superseded else None, "text": self.describe()}


def _phase_dict(p: Phase) -> dict[str, Any]:
    return {"from": p.start.isoformat(), "until": p.until.isoformat() if p.until else None, "title": p.title,
            "text": p.text, "applies_to": list(p.applies_to)}


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _phase(raw: Any, where: str) -> Phase:
    if not isinstance(raw, dict) or not raw.get("title") or "from" not in raw:
        raise ConfigError(f"{where}: a phase needs 'from' and 'title'")
    until = _date(raw["until"], f"{where}.until") if raw.get("until") else None
    bad = [c for c in raw.get("applies_to", ()) if c not in AI_ACT_CLASSES]
    if bad:
        raise ConfigError(f"{where}.applies_to: unknown classification {bad[0]!r} (known: {', '.join(AI_ACT_CLASSES)})")
    return Phase(_date(raw["from"], f"{where}.from"), until, str(raw["title"]), str(raw.get("text", "")),
                 tuple(raw.get("applies_to", ())))


def load_regimes(workspace_root: Path | None = None) -> dict[str, Regime]:
    """Every regime of the workspace's ``regimes.toml`` if it has one, else the shipped file, by id."""
    path = workspace_root / WORKSPACE_FILE if workspace_root and (workspace_root / WORKSPACE_FILE).is_file() \
        else SHIPPED
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid UTF-8 TOML file ({exc})") from None
    out: dict[str, Regime] = {}
    for i, r in enumerate(doc.get("regimes") or ()):
        where = f"{path}: regimes[{i}]"
        if not isinstance(r, dict) or not r.get("id") or not r.get("name"):
            raise ConfigError(f"{where}: a regime needs 'id' and 'name'")
        phases = tuple(sorted((_phase(p, f"{where}.phases[{j}]") for j, p in enumerate(r.get("phases") or ())),
                              key=lambda p: p.start))
        if not phases:
            raise ConfigError(f"{where}: regime {r['id']!r} has no phases")
        out[str(r["id"])] = Regime(str(r["id"]), str(r["name"]), str(r.get("issuer", "")), r.get("template"),
                                   r.get("superseded_by"), phases)
    for r in out.values():
        if r.superseded_by and r.superseded_by not in out:
            raise ConfigError(f"{path}: regime {r.id!r} is superseded by unknown regime {r.superseded_by!r}")
    return out


def model_classification(settings: Settings, model: str | None) -> str | None:
    """The AI Act classification ``[models.NAME]`` gives ``model`` (None: not classified)."""
    return (settings.models.get(model or "") or ModelConfig()).ai_act_classification


def regime_state(regimes: dict[str, Regime], regime_id: str, on: dt.date,
                 classification: str | None = None) -> RegimeState:
    """Where regime ``regime_id`` stands on ``on`` for a model of ``classification``."""
    regime = regimes.get(regime_id)
    if regime is None:
        raise ConfigError(f"[policy] regimes names unknown regime {regime_id!r} (known: {', '.join(sorted(regimes))})")
    phases = [p for p in regime.phases if p.concerns(classification)]
    current = tuple(p for p in phases if p.in_force(on))
    coming = next((p for p in phases if p.start > on), None)
    superseded = None
    successor = regimes.get(regime.superseded_by or "")
    if successor is not None and not current and successor.phases[0].start <= on:
        superseded = (successor.name, successor.phases[0].start)
    return RegimeState(regime, on, current, coming, superseded)


def regimes_on(settings: Settings, on: dt.date, *, model: str | None = None,
               workspace_root: Path | None = None) -> tuple[RegimeState, ...]:
    """The regimes ``[policy] regimes`` applies, each as it stands on ``on`` for ``model``."""
    regimes = load_regimes(workspace_root)
    classification = model_classification(settings, model)
    return tuple(regime_state(regimes, r, on, classification) for r in settings.policy.regimes)


def policy_status(settings: Settings, on: dt.date) -> str:
    """The workspace policy's standing on ``on``: in force since its ``effective_from``, not yet, or undated."""
    if not settings.policy.effective_from:
        return "policy in force (no effective date set: [policy] effective_from)"
    since = dt.date.fromisoformat(settings.policy.effective_from)
    if on < since:
        return f"policy NOT yet in force on {on:%Y-%m-%d}: it takes effect on {since:%Y-%m-%d}"
    return f"policy in force since {since:%Y-%m-%d}"


@dataclass(frozen=True)
class TemplateStatus:
    """Whether a template was the current one on a date."""

    template: str
    current: bool
    message: str


def template_status(template: Any, on: dt.date) -> TemplateStatus:
    """Whether ``template`` (a parsed :class:`~governance.reports.templates.Template`) applied on ``on``."""
    start = _date(template.effective, f"template {template.id}.effective") if template.effective else None
    ended = getattr(template, "superseded_from", None)
    end = _date(ended, f"template {template.id}.superseded_from") if ended else None
    successor = getattr(template, "superseded_by", None)
    if end is not None and on >= end:
        return TemplateStatus(template.id, False, f"{template.title} is superseded since {end:%Y-%m-%d}"
                              + (f" by template {successor}" if successor else "") + "; kept for earlier records")
    if start is not None and on < start:
        return TemplateStatus(template.id, False, f"{template.title} takes effect on {start:%Y-%m-%d}")
    since = f" since {start:%Y-%m-%d}" if start else ""
    return TemplateStatus(template.id, True, f"{template.title} in force{since}")
