"""Model card editor: card fields edited in Countersign, with history, and written back where registries hold them.

Registries carry few card fields (MLflow none of its own, ZenML some, SageMaker Model Cards), so Annex IV gaps stay
open. Here a model's card is Countersign's record: each edit (``edit_card``) stores the whole card, what changed,
who and why, and the registries' cards as they read at that moment (the *base* of the edit); it is a ledger entry
(``card.edit``, subject ``model:NAME``) written under the tail check. The card is checked against the fields the
report templates require (``card_fields`` of each template) and the tier's ``required_card_fields`` gate reads it.

Write-back (``write_back``) goes to every account holding the model whose connector is a
:class:`~connectors.base.CardWriter` (SageMaker Model Cards, ZenML model fields, MLflow registered model
description and tags, the folder's card.json). A field the registry changed since Countersign last saw it (the
edit's base, or the last write-back) and that the edit would change is a **conflict**: that account is not written,
the conflict is recorded and shown with both values, and resolved by an edit made after seeing the registry's value
(its base is then the registry's card). The connector refuses too when the card changed between its read and its
write. Nothing is silently overwritten. Each attempt is a ledger entry (``card.writeback``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import CARD_FIELDS, CardWriter, Connector, RegistryCard
from core.clock import utcnow
from core.credentials import redact
from core.errors import ConflictError, CountersignError, InputError
from core.ids import new_event_id
from governance import ledger
from governance.catalog import Catalog, InventoryFilter
from governance.config import AI_ACT_CLASSES
from governance.context import Context
from governance.effective_card import effective_card
from governance.identity import require
from governance.ledger.subjects import model_subject

ConnectorFactory = Callable[[str], Connector]
RISK_RATINGS = ("High", "Medium", "Low", "Unknown")  # SageMaker Model Cards' vocabulary


@dataclass(frozen=True)
class CardField:
    """One editable card field: its name (:data:`connectors.base.CARD_FIELDS`), label, help and allowed values."""

    name: str
    label: str
    help: str
    choices: tuple[str, ...] = ()


FIELDS: tuple[CardField, ...] = (
    CardField("description", "Description", "What the model does, in a paragraph."),
    CardField("intended_uses", "Intended use", "The purpose and the decisions it supports (Annex IV(1)(a))."),
    CardField("limitations", "Limitations", "Known limitations; where it must not be used (Annex IV(3))."),
    CardField("risk_rating", "Risk rating", "The card's risk rating.", RISK_RATINGS),
    CardField("ethical_considerations", "Ethical considerations", "Fairness, protected groups, societal impact."),
    CardField("training_data", "Training data", "Provenance, scope and preparation of the data (Annex IV(2)(d))."),
    CardField("evaluation", "Evaluation", "How it was validated; metrics and their thresholds (Annex IV(2)(g))."),
    CardField("human_oversight", "Human oversight", "Who can override or stop it, and how (Art. 14)."),
    CardField("accountable_senior_manager", "Accountable senior manager", "The SMF accountable (PRA SS1/23)."),
    CardField("materiality", "Materiality", "Inherent risk and exposure (SR 26-2 inventory).", ("high", "medium", "low")),
    CardField("ai_act_classification", "AI Act classification", "How the EU AI Act classifies it.", AI_ACT_CLASSES),
    CardField("generative_ai", "Generative AI", "Whether it is a generative AI model.", ("yes", "no")),
)
BY_NAME = {f.name: f for f in FIELDS}
assert tuple(BY_NAME) == CARD_FIELDS, "governance.cards.FIELDS and connectors.base.CARD_FIELDS must name the same"


@dataclass(frozen=True)
class CardEdit:
    """One edit of a model's card: the whole card after it, what changed, and the registries' cards it saw."""

    edit_id: str
    model: str
    fields: dict[str, str]
    changed: dict[str, dict[str, str]]  # field -> {"from", "to"}
    registry: dict[str, dict[str, Any]]  # account -> {"fields", "revision", "target"} or {"problem"}
    editor: str
    edited_at: dt.datetime
    comment: str | None
    ledger_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class FieldConflict:
    """A field the registry changed since Countersign last saw it, that the edit would change too."""

    field: str
    countersign: str
    registry: str
    base: str | None  # what Countersign last saw there (None: never read)


@dataclass(frozen=True)
class WriteBack:
    """One account's write-back of a card: written, unchanged, conflict, unsupported or failed."""

    account: str
    status: str
    target: str | None = None
    written: tuple[str, ...] = ()
    conflicts: tuple[FieldConflict, ...] = ()
    kept_here: tuple[str, ...] = ()  # fields this registry cannot hold: they stay in Countersign only
    detail: str = ""
    writeback_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__},
                "conflicts": [c.__dict__ for c in self.conflicts]}


@dataclass(frozen=True)
class RegistryState:
    """One account's card as read now, against Countersign's card: what differs, what conflicts."""

    account: str
    target: str | None
    fields: dict[str, str]
    holds: tuple[str, ...]
    pending: tuple[str, ...] = ()  # held fields where Countersign's card differs (a write-back would change them)
    conflicts: tuple[str, ...] = ()  # of those, the ones the registry changed since Countersign last saw it
    newer: tuple[str, ...] = ()  # fields only the registry changed since: kept there, not overwritten
    problem: str | None = None


@dataclass(frozen=True)
class CardView:
    """A model's card as the editor shows it."""

    model: str
    fields: dict[str, str]
    source: str  # countersign (an edit exists) | registry (the synced registry card) | none
    history: tuple[CardEdit, ...] = ()
    registries: dict[str, RegistryState] = field(default_factory=dict)
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # template id -> required fields left empty
    required_by_tier: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"model": self.model, "fields": self.fields, "source": self.source,
                "history": [h.as_dict() for h in self.history],
                "registries": {k: v.__dict__ for k, v in self.registries.items()},
                "missing": {k: list(v) for k, v in self.missing.items()},
                "required_by_tier": list(self.required_by_tier)}


# -- reading ------------------------------------------------------------------------------------------------------


def _flat(content: Mapping[str, Any] | None) -> dict[str, str]:
    """A synced registry card's content in Countersign's field names (flat keys of the same name only)."""
    return {k: str(v) for k, v in (content or {}).items() if k in BY_NAME and v not in (None, "") and
            not isinstance(v, dict | list)}


def history(catalog: Catalog, model: str) -> tuple[CardEdit, ...]:
    """Every Countersign edit of ``model``'s card, oldest first."""
    return tuple(CardEdit(**{k: r[k] for k in CardEdit.__dataclass_fields__})
                 for r in catalog.lifecycle_rows("card_edits", {"model": model}))


def _accounts_of(ctx: Context, model: str) -> list[str]:
    rows = ctx.catalog.inventory_rows(InventoryFilter(model=model))
    return sorted({r["account"] for r in rows} & {a.name for a in ctx.settings.accounts})


def _factory(ctx: Context, given: ConnectorFactory | None) -> ConnectorFactory:
    if given is not None:
        return given
    from governance.sources import connector_for

    return lambda name: connector_for(ctx.workspace, ctx.settings, name)


def _read_registries(ctx: Context, model: str, factory: ConnectorFactory) -> dict[str, RegistryCard | str]:
    """Each account's card now, or why it cannot be read; accounts whose connector holds no cards are left out."""
    out: dict[str, RegistryCard | str] = {}
    for account in _accounts_of(ctx, model):
        try:
            conn = factory(account)
            if not isinstance(conn, CardWriter):
                continue
            out[account] = conn.read_card(model)
        except CountersignError as exc:
            out[account] = redact(str(exc), ctx.settings.secret_values())
    return out


def _base(catalog: Catalog, model: str, account: str) -> dict[str, str] | None:
    """What Countersign last saw of ``account``'s card: the newest edit's snapshot or the newest write-back's
    result, whichever is newer (None: never read)."""
    seen: list[tuple[dt.datetime, dict[str, str] | None]] = []
    edits = history(catalog, model)
    if edits:
        snap = edits[-1].registry.get(account) or {}
        seen.append((edits[-1].edited_at, snap.get("fields") if "fields" in snap else None))
    for w in catalog.lifecycle_rows("card_writebacks", {"model": model, "account": account}):
        if w["status"] in ("written", "unchanged"):
            seen.append((w["happened_at"], (w["detail"] or {}).get("fields")))
    return max(seen, key=lambda s: s[0])[1] if seen else None


def _compare(ours: Mapping[str, str], card: RegistryCard, base: Mapping[str, str] | None
             ) -> tuple[tuple[str, ...], tuple[FieldConflict, ...], tuple[str, ...]]:
    """A three-way comparison of each held field: Countersign's value, the registry's now, and ``base`` (what
    Countersign last saw there; None: never read). Returns the fields a write-back changes (Countersign changed
    them), those of them the registry changed too (conflicts), and those only the registry changed (kept there)."""
    pending, conflicts, newer = [], [], []
    for f in card.holds:
        mine, theirs = ours.get(f, ""), card.fields.get(f, "")
        was = None if base is None else base.get(f, "")
        if mine == theirs:
            continue
        if was is not None and mine == was:
            newer.append(f)  # only the registry changed it: its value stands, Countersign's card can adopt it
            continue
        pending.append(f)
        if (was is None and theirs) or (was is not None and theirs != was):
            conflicts.append(FieldConflict(f, mine, theirs, was))
    return tuple(pending), tuple(conflicts), tuple(newer)


def _templates_missing(ctx: Context, fields: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    from governance.reports.template_library import list_templates

    return {t.id: tuple(f for f in t.card_fields if not fields.get(f)) for t in list_templates(ctx.workspace.root)
            if t.card_fields}


def card_view(ctx: Context, model: str, *, connectors: ConnectorFactory | None = None,
              read_registries: bool = True) -> CardView:
    """``model``'s card, its history, each registry's card read now, and the required fields left empty."""
    from governance.policy import model_tier

    require(ctx.identity, "view")
    ctx.catalog.model(model)  # NotFound for an unknown model
    card = effective_card(ctx.catalog, model)
    fields = dict(card["content"]) if card and card.get("source") == "countersign" else _flat((card or {}).get(
        "content"))
    source = card["source"] if card else "none"
    states = {}
    if read_registries:
        for account, read in _read_registries(ctx, model, _factory(ctx, connectors)).items():
            if isinstance(read, str):
                states[account] = RegistryState(account, None, {}, (), problem=read)
                continue
            pending, conflicts, newer = _compare(fields, read, _base(ctx.catalog, model, account))
            states[account] = RegistryState(account, read.target, read.fields, read.holds, pending,
                                            tuple(c.field for c in conflicts) if source == "countersign" else (),
                                            newer)
    _, tier = model_tier(ctx.catalog, ctx.settings, model)
    return CardView(model, fields, source, history(ctx.catalog, model), states, _templates_missing(ctx, fields),
                    tuple(f for f in tier.required_card_fields if not fields.get(f)))


# -- editing ------------------------------------------------------------------------------------------------------


def _checked(changes: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in changes.items():
        spec = BY_NAME.get(name)
        if spec is None:
            raise InputError(f"unknown card field {name!r} (known: {', '.join(BY_NAME)})")
        text = (value or "").strip()
        if text and spec.choices and text not in spec.choices:
            raise InputError(f"{name} must be one of {', '.join(spec.choices)} (or empty), got {text!r}")
        out[name] = text
    return out


def _adopted(fields: Mapping[str, str], reads: Mapping[str, RegistryCard | str]) -> dict[str, str]:
    """Countersign's card with the fields it lacks taken from the registries' cards (the first account that has
    one): an edit changes what it names, and a write-back never clears what the registry holds and nobody edited."""
    out = dict(fields)
    for read in (r for _, r in sorted(reads.items()) if not isinstance(r, str)):
        for name, value in read.fields.items():
            out.setdefault(name, value)
    return out


def edit_card(ctx: Context, model: str, changes: Mapping[str, str], comment: str, *,
              now: dt.datetime | None = None, connectors: ConnectorFactory | None = None) -> CardEdit:
    """Record an edit of ``model``'s card (an empty value clears a field) with the registries' cards it saw."""
    require(ctx.identity, "edit_card")
    checked = _checked(changes)
    view = card_view(ctx, model, read_registries=False)
    reads = _read_registries(ctx, model, _factory(ctx, connectors))
    start = _adopted(view.fields, reads)
    new = {k: v for k, v in ({**start, **checked}).items() if v}
    changed = {f: {"from": start.get(f, ""), "to": new.get(f, "")} for f in checked
               if start.get(f, "") != new.get(f, "")}
    if not changed:
        raise InputError(f"nothing to change: the card of {model} already reads so")
    text = (comment or "").strip() or None
    seen = {a: ({"problem": r} if isinstance(r, str) else {"fields": r.fields, "revision": r.revision,
                                                           "target": r.target})
            for a, r in reads.items()}
    moment = now or utcnow()
    edit_id = new_event_id("CE")
    row = {"edit_id": edit_id, "model": model, "fields": new, "changed": changed, "registry": seen,
           "editor": ctx.identity.email, "edited_at": moment, "comment": text}
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the card edit of {model}")
        entry = ledger.append(con, actor=ctx.identity.email, action="card.edit", subject=model_subject(model),
                              at=moment, payload={"edit_id": edit_id, "changed": changed, "comment": text,
                                                  "registry_revisions": {a: s.get("revision") for a, s in seen.items()}})
        ctx.catalog.insert_lifecycle_row(con, "card_edits", {**row, "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return history(ctx.catalog, model)[-1]


# -- writing back -------------------------------------------------------------------------------------------------


def _attempt(ctx: Context, model: str, account: str, conn: Any, fields: Mapping[str, str]) -> tuple[WriteBack, dict]:
    """One account's write-back (nothing recorded yet): the outcome and what to keep of the card after it."""
    card = conn.read_card(model)
    pending, conflicts, _newer = _compare(fields, card, _base(ctx.catalog, model, account))
    kept = tuple(f for f in fields if f not in card.holds)
    if conflicts:
        return WriteBack(account, "conflict", card.target, conflicts=conflicts, kept_here=kept,
                         detail="the registry changed these fields since Countersign last saw them; nothing was "
                                "written: edit the card again after reading the registry's values"), {}
    if not pending:
        return WriteBack(account, "unchanged", card.target, kept_here=kept), {"fields": card.fields}
    try:
        after = conn.write_card(model, {f: fields.get(f, "") for f in pending}, card.revision)
    except ConflictError as exc:
        return WriteBack(account, "conflict", card.target, kept_here=kept, detail=str(exc)), {}
    return WriteBack(account, "written", after.target, written=pending, kept_here=kept), {"fields": after.fields}


def write_back(ctx: Context, model: str, *, accounts: tuple[str, ...] = (), now: dt.datetime | None = None,
               connectors: ConnectorFactory | None = None) -> tuple[WriteBack, ...]:
    """Write Countersign's card of ``model`` to each account holding it (or ``accounts``) that can hold cards; a
    conflict leaves that account unwritten. Each attempt is recorded."""
    require(ctx.identity, "write_card")
    edits = history(ctx.catalog, model)
    if not edits:
        raise InputError(f"Countersign holds no edit of {model}'s card: edit it first ('countersign card edit')")
    fields, factory = edits[-1].fields, _factory(ctx, connectors)
    out = []
    for account in accounts or tuple(_accounts_of(ctx, model)):
        try:
            conn = factory(account)
            if not isinstance(conn, CardWriter):
                out.append(WriteBack(account, "unsupported", detail=f"the {getattr(conn, 'kind', '?')} connector of "
                                     f"{account} holds no model cards Countersign can write"))
                continue
            result, keep = _attempt(ctx, model, account, conn, fields)
        except CountersignError as exc:
            result, keep = WriteBack(account, "failed", detail=redact(str(exc), ctx.settings.secret_values())), {}
        out.append(_record(ctx, model, edits[-1].edit_id, result, keep, now or utcnow()))
    return tuple(out)


def _record(ctx: Context, model: str, edit_id: str, result: WriteBack, keep: dict, at: dt.datetime) -> WriteBack:
    """Record one write-back attempt (ledger entry and row) under the tail check."""
    import dataclasses

    writeback_id = new_event_id("CW")
    payload = {"writeback_id": writeback_id, "edit_id": edit_id, "account": result.account, "target": result.target,
               "status": result.status, "written": list(result.written), "kept_here": list(result.kept_here),
               "conflicts": [c.__dict__ for c in result.conflicts], "detail": result.detail}
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"recording the card write-back of {model}")
        entry = ledger.append(con, actor=ctx.identity.email, action="card.writeback", subject=model_subject(model),
                              at=at, payload=payload)
        ctx.catalog.insert_lifecycle_row(con, "card_writebacks", {
            "writeback_id": writeback_id, "edit_id": edit_id, "model": model, "account": result.account,
            "target": result.target, "status": result.status, "detail": {**payload, **keep},
            "actor": ctx.identity.email, "happened_at": at, "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return dataclasses.replace(result, writeback_id=writeback_id)
