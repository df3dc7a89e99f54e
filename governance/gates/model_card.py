"""Gate ``model_card``: the model card fills every field the tier's ``required_card_fields`` names."""

from __future__ import annotations

from typing import Any

from governance.gates.base import Gate, GateContext, GateResult

NAME = "model_card"


def missing_card_fields(tier: Any, card: dict[str, Any] | None) -> list[str]:
    """The fields ``tier`` requires that the model card leaves empty (all of them when there is no card)."""
    content = (card or {}).get("content") or {}
    return [f for f in tier.required_card_fields if not str(content.get(f) or "").strip()]


def check(ctx: GateContext) -> GateResult:
    """The model card fills every field the tier requires."""
    required = ctx.tier.required_card_fields
    if ctx.card is None:
        return GateResult(NAME, "missing", f"model {ctx.version.model} has no model card", list(required))
    content = ctx.card.get("content") or {}
    empty = missing_card_fields(ctx.tier, ctx.card)
    if empty:
        return GateResult(NAME, "fail", f"model card lacks {', '.join(empty)}", list(required),
                          sorted(k for k, v in content.items() if v))
    return GateResult(NAME, "pass", f"model card has {', '.join(required)}", list(required), list(required))


GATE = Gate(NAME, lambda t: bool(t.required_card_fields), check,
            "The model card fills every field in required_card_fields.",
            clears="fill the missing model card fields on the Model page")
