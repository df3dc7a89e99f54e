"""How values read to people, in one place: numbers, instants, identifiers and empty cells.

The portal, the CLI's plain output and the PDF print through these functions so a figure reads the same everywhere
(issue 35): no scientific notation nobody asked for, no 16-digit floats, every instant in UTC with its zone, registry
and code identifiers (``PendingManualApproval``, ``risk_acceptance``, ``dataset_drifted``) in words, and an empty
value as a dash rather than ``None``. Standard library only: the CLI imports it before any heavy module.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

EMPTY = "—"
# The same rule for chart tooltips and axes (d3-format): 4 significant digits written out, never ``1.085e+4``.
D3_SIGNIFICANT = ",.4~r"
TINY = 1e-4  # below it a figure reads "< 0.0001" (as p-values are reported), not 0.00000000000000311

# Words whose plain rendering is not their split spelling (registry states, ledger actions, gate keys).
VOCABULARY: dict[str, str] = {
    "PendingManualApproval": "pending approval",
    "InService": "in service",
    "OutOfService": "out of service",
    "approve": "approved",
    "reject": "rejected",
    "cancel": "cancelled",
    "accept_risk": "risk accepted",
    "risk_acceptance": "risk acceptance",
    "risk_officer": "risk officer",
    "ml_engineer": "ML engineer",
    "data_scientist": "data scientist",
    "dataset_drifted": "dataset drifted",
    "selection_rate": "selection rate",
    "min_metrics": "minimum metrics",
    "max_metrics": "maximum metrics",
    "auc": "AUC",
    "roc_auc": "ROC AUC",
    "rmse": "RMSE",
    "mae": "MAE",
    "f1": "F1",
    "shap": "SHAP",
    "explain": "explainability (SHAP)",  # the evidence kind: "no explain evidence" read as a typo
    "weighted_drift": "importance-weighted drift",
    "report.export": "report exported",
    "pack.export": "audit pack exported",
}

# Ledger actions as a person says them (the Audit page, the PDF's ledger block, notifications).
ACTIONS: dict[str, str] = {
    "request.create": "promotion requested",
    "request.approve": "approved",
    "request.approved": "request approved",
    "request.reject": "rejected",
    "request.cancel": "cancelled",
    "request.accept_risk": "risk accepted",
    "approval.refused": "approval refused",
    "execute.start": "execution started",
    "execute.source_approved": "source approved in its registry",
    "execute.target_registered": "copy registered in the target registry",
    "execute.done": "promotion executed",
    "execute.failed": "execution failed",
    "execution.refused": "execution refused",
    "review.periodic": "periodic review",
    "review.triggered": "triggered review",
    "sync.account": "account synced",
    "ledger.checkpoint": "ledger checkpoint",
    "ledger.accept_unsealed": "unsealed entries accepted",
    "history.event": "registry event",
    "history.backfill": "history backfilled",
    "report.export": "report exported",
    "report.countersign": "report countersigned",
    "pack.export": "audit pack exported",
}
VOCABULARY.update(ACTIONS)
_REGISTRY_STATE = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+")  # PendingManualApproval, InService
_ACTION = re.compile(r"[a-z_]+\.[a-z_]+")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def words(identifier: Any) -> str:
    """A code or registry identifier in plain lower-case words (``PendingManualApproval`` → ``pending approval``,
    ``policy_tenure_years`` → ``policy tenure years``); anything that is not an identifier comes back as it is."""
    if identifier is None:
        return EMPTY
    text = str(identifier)
    if text in VOCABULARY:
        return VOCABULARY[text]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", text):
        return text
    spaced = _CAMEL.sub(" ", text).replace("_", " ").replace(".", " ")
    return " ".join(VOCABULARY.get(w, w if w.isupper() and len(w) > 1 else w.lower()) for w in spaced.split())


def plain_value(value: Any, *, code_column: bool = False) -> Any:
    """A table cell's value as shown: known identifiers and registry states in words, containers as text, an empty
    value as a dash; other text (model names, ids, file names) untouched. ``code_column``: the column holds codes
    only (an action, a status, a kind), so any identifier in it is put in words."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EMPTY
    if isinstance(value, Mapping):  # a JSON payload: "key value; key value" (lists stay lists: list columns)
        return cell(value)
    if not isinstance(value, str):
        return value
    if value[:1] == "{" and value[-1:] == "}":  # a JSON object stored as text (a ledger payload, sync counts)
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return cell(parsed) if isinstance(parsed, Mapping) else value
    if value in VOCABULARY or _REGISTRY_STATE.fullmatch(value):
        return words(value)
    if code_column and (_ACTION.fullmatch(value) or re.fullmatch(r"[a-z]+(?:_[a-z]+)+", value)):
        return words(value)
    return value


def number(value: Any, *, digits: int = 3) -> str:
    """A figure without scientific notation: thousands separated, ``digits`` significant decimals for small values
    (0.7641 → ``0.764``, 10850.2 → ``10,850``, 0.000123 → ``0.000123``, 3e-15 → ``< 0.0001``), integers as
    integers, NaN as a dash."""
    if value is None or isinstance(value, bool):
        return EMPTY if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    x = float(value)
    if math.isnan(x):
        return EMPTY
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.{max(digits - len(str(int(abs(x)))), 0) + 1}f}".rstrip("0").rstrip(".")
    if abs(x) < TINY:  # 3.1e-15 is no figure a reader weighs: say it is below the smallest one printed
        return f"< {TINY:.4f}" if x > 0 else f"> -{TINY:.4f}"
    # below one: keep ``digits`` significant digits, written out in full
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    return f"{x:.{decimals}f}".rstrip("0").rstrip(".")


def figures(values: Sequence[Any], *, digits: int = 3) -> list[str]:
    """The figures of one row side by side with the same decimals (``0`` beside ``0.27`` reads as ``0.00``); a
    value that is no number is shown by :func:`cell`."""
    shown = [number(v, digits=digits) if _figure(v) else cell(v) for v in values]
    plain = [_figure(v) and (t[:1].isdigit() or t[:1] == "-") and abs(float(v)) < 1000 for v, t in zip(values, shown,
                                                                                                       strict=True)]
    decimals = max((len(t.partition(".")[2]) for t, ok in zip(shown, plain, strict=True) if ok), default=0)
    if decimals == 0:
        return shown
    return [f"{float(v):.{decimals}f}" if ok else t for v, t, ok in zip(values, shown, plain, strict=True)]


def _figure(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def share(value: Any) -> str:
    """A fraction as a percentage (0.2 → ``20%``, 0.1234 → ``12.3%``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EMPTY
    pct = float(value) * 100
    return f"{pct:.1f}".rstrip("0").rstrip(".") + "%"


def when(value: Any, *, seconds: bool = False) -> str:
    """An instant in UTC with its zone (``2026-12-07 16:41 UTC``); a naive value is UTC (the catalog stores UTC); a
    date alone as ``2026-12-07``."""
    if value is None or value != value:  # NaT compares unequal to itself
        return EMPTY
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def cell(value: Any) -> str:
    """Any stored value as a person reads it in a table cell or a sentence."""
    if value is None:
        return EMPTY
    if isinstance(value, bool | int | float):
        return number(value)
    if isinstance(value, dt.date):
        return when(value)
    if isinstance(value, Mapping):
        return "; ".join(f"{words(k)} {cell(v)}" for k, v in value.items()) or EMPTY
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(cell(v) for v in value) or EMPTY
    return str(value)
