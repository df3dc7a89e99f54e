"""Typed evidence summaries: the small record each evidence row keeps next to its full result.

Each evidence kind defines its summary type in its own module (:mod:`governance.analytics.kinds`); this module
reads a stored summary into the type its kind registered (:func:`summary_from_json`), and keeps the built-in
types importable from here. The policy gates, the pages and the reports read these attributes; the ``summary``
JSON column keeps the format it always had. This module imports nothing heavy: the policy reads it without the
analytics engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.analytics.kinds import REGISTRY
from governance.analytics.kinds.bias import AttributeSummary, BiasSummary
from governance.analytics.kinds.drift import WEIGHT_NOTES, WEIGHT_SOURCES, WEIGHT_WORDS, DriftSummary
from governance.analytics.kinds.explain import ExplainSummary
from governance.document import scalar

__all__ = ["WEIGHT_NOTES", "WEIGHT_SOURCES", "WEIGHT_WORDS", "AttributeSummary", "BiasSummary", "DriftSummary",
           "EvidenceSummary", "ExplainSummary", "OtherSummary", "summary_from_json"]


@dataclass(frozen=True)
class OtherSummary:
    """The summary of an evidence kind without a type of its own: its values as stored."""

    kind: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return dict(self.values)

    def lines(self) -> list[str]:
        """The scalar values in words."""
        return [f"{k}: {v}" for k, v in self.values.items() if not isinstance(v, dict | list)] or ["(see JSON)"]

    def report_rows(self) -> list[tuple[str, Any]]:
        """The scalar values a report's key-value table prints, alphabetical."""
        return [(k, v) for k, v in sorted(self.to_json().items()) if scalar(v)]


EvidenceSummary = DriftSummary | BiasSummary | ExplainSummary | OtherSummary


def summary_from_json(kind: str, data: Mapping[str, Any] | None) -> Any:
    """The typed summary of a ``kind`` evidence row from its stored JSON (the kind's registered summary type; the
    values as stored for a kind no longer registered)."""
    if kind not in REGISTRY:
        return OtherSummary(kind, dict(data or {}))
    return REGISTRY[kind].summary.from_json(data or {})
