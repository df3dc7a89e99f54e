"""Typed evidence summaries: the small record each evidence row keeps next to its full result.

The policy gates, the pages and the reports read these attributes; the ``summary`` JSON column keeps the format
it always had (:meth:`to_json` writes it, :meth:`from_json` reads it back, also from rows written before these
types existed, where a key may be missing). This module imports nothing heavy: the policy reads it without the
analytics engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


# where the weights of the importance-weighted drift come from, and what a share of them is called
WEIGHT_SOURCES = ("shap", "registry", "given", "equal")
WEIGHT_WORDS = {"shap": "of the model's attribution", "registry": "of the registry's feature importance",
                "given": "of the given weights", "equal": "of the features, weighed equally"}
WEIGHT_NOTES = {"shap": "mean |SHAP| of the version's explain evidence",
                "registry": "the registry's feature importances (no explain evidence)",
                "given": "weights given with the command",
                "equal": "equal weights: no explain evidence and no registry feature importances"}


def _percent(share: float) -> str:
    pct = share * 100
    return f"{pct:.0f} %" if pct >= 1 or pct == 0 else "<1 %"


@dataclass(frozen=True)
class DriftSummary:
    """Drift of a dataset: the share of drifted columns against the threshold that makes the dataset drifted, and
    the importance-weighted drift (the weight of the drifted features, the heaviest of them named)."""

    KIND: ClassVar[str] = "drift"

    drift_share: float | None = None
    dataset_drifted: bool | None = None
    drifted_columns: tuple[str, ...] = ()
    n_columns: int | None = None
    threshold: float | None = None
    weighted_drift: float | None = None
    weights_source: str | None = None
    weights_ref: str | None = None
    heaviest: tuple[tuple[str, float], ...] = ()  # drifted features and their share of the weight, heaviest first
    problems: tuple[str, ...] = ()  # "claim_amount: missing in the current data", …

    @property
    def kind(self) -> str:
        """The evidence kind this summarises."""
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        out: dict[str, Any] = {"drift_share": self.drift_share, "dataset_drifted": self.dataset_drifted,
                               "drifted_columns": list(self.drifted_columns), "n_columns": self.n_columns,
                               "threshold": self.threshold}
        if self.weighted_drift is not None:  # rows stored before weighting keep their exact form
            out.update(weighted_drift=self.weighted_drift, weights_source=self.weights_source,
                       weights_ref=self.weights_ref, heaviest=[[c, w] for c, w in self.heaviest],
                       problems=list(self.problems))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DriftSummary:
        """Read the stored JSON form (missing keys stay unknown)."""
        return cls(drift_share=data.get("drift_share"), dataset_drifted=data.get("dataset_drifted"),
                   drifted_columns=tuple(str(c) for c in data.get("drifted_columns") or ()),
                   n_columns=data.get("n_columns"), threshold=data.get("threshold"),
                   weighted_drift=data.get("weighted_drift"), weights_source=data.get("weights_source"),
                   weights_ref=data.get("weights_ref"),
                   heaviest=tuple((str(c), float(w)) for c, w in data.get("heaviest") or ()),
                   problems=tuple(str(p) for p in data.get("problems") or ()))

    @property
    def headline(self) -> str:
        """The drift in one sentence, heaviest feature first: ``claim_amount (41 % of the model's attribution) and
        vehicle_age (2 %) drifted``."""
        if not self.drifted_columns:
            return "no column drifted"
        if not self.heaviest:
            return f"{', '.join(self.drifted_columns)} drifted, none of them a weighted model feature"
        words = WEIGHT_WORDS.get(self.weights_source or "equal", "of the weight")
        named = [f"{c} ({_percent(w)} {words})" if i == 0 else f"{c} ({_percent(w)})"
                 for i, (c, w) in enumerate(self.heaviest)]
        text = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
        rest = len(self.drifted_columns) - len(self.heaviest)
        return f"{text} drifted" + (f" (and {rest} column{'s' if rest > 1 else ''} of no weight)" if rest else "")

    def lines(self) -> list[str]:
        """The key numbers in words."""
        cols = self.drifted_columns
        verdict = {True: "drifted", False: "not drifted"}.get(self.dataset_drifted, "—")  # type: ignore[arg-type]
        n = "?" if self.n_columns is None else self.n_columns
        out = [f"drift share {_num(self.drift_share)}: dataset {verdict}",
               f"{len(cols)} of {n} columns drifted" + (f": {', '.join(cols)}" if cols else "")]
        if self.weighted_drift is not None:
            out.append(f"importance-weighted drift {_num(self.weighted_drift)} "
                       f"({WEIGHT_NOTES.get(self.weights_source or 'equal', self.weights_source)}): {self.headline}")
        out += [f"failing: {p}" for p in self.problems]
        return out


@dataclass(frozen=True)
class AttributeSummary:
    """Fairness of one protected attribute."""

    demographic_parity_ratio: float | None = None
    demographic_parity_difference: float | None = None
    equalized_odds_difference: float | None = None
    four_fifths_pass: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {"demographic_parity_ratio": self.demographic_parity_ratio,
                "demographic_parity_difference": self.demographic_parity_difference,
                "equalized_odds_difference": self.equalized_odds_difference,
                "four_fifths_pass": self.four_fifths_pass}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AttributeSummary:
        """Read the stored JSON form (None or missing keys stay unknown)."""
        data = data or {}
        return cls(demographic_parity_ratio=data.get("demographic_parity_ratio"),
                   demographic_parity_difference=data.get("demographic_parity_difference"),
                   equalized_odds_difference=data.get("equalized_odds_difference"),
                   four_fifths_pass=data.get("four_fifths_pass"))


@dataclass(frozen=True)
class BiasSummary:
    """Fairness per protected attribute and the smallest disparate impact over them."""

    KIND: ClassVar[str] = "bias"

    attributes: Mapping[str, AttributeSummary] = field(default_factory=dict)
    min_disparate_impact: float | None = None

    @property
    def kind(self) -> str:
        """The evidence kind this summarises."""
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {"attributes": {name: a.to_json() for name, a in self.attributes.items()},
                "min_disparate_impact": self.min_disparate_impact}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BiasSummary:
        """Read the stored JSON form (missing keys stay unknown)."""
        attrs = data.get("attributes") or {}
        return cls(attributes={str(k): AttributeSummary.from_json(v) for k, v in attrs.items()},
                   min_disparate_impact=data.get("min_disparate_impact"))

    @property
    def ratios(self) -> dict[str, float | None]:
        """Disparate impact (demographic parity ratio) per attribute."""
        return {name: a.demographic_parity_ratio for name, a in self.attributes.items()}

    def lines(self) -> list[str]:
        """The key numbers in words."""
        rule = {True: "pass", False: "FAIL"}
        return [f"{name}: disparate impact {_num(a.demographic_parity_ratio)}, four-fifths "
                f"{rule.get(a.four_fifths_pass, '—')}"  # type: ignore[arg-type]
                for name, a in self.attributes.items()] or ["no protected attribute measured"]


@dataclass(frozen=True)
class ExplainSummary:
    """The most important features (mean |SHAP|), how well the explanation adds up, and the explainer used."""

    KIND: ClassVar[str] = "explain"

    top_features: tuple[tuple[str, float | None], ...] = ()
    additivity_max_error: float | None = None
    explainer: str | None = None

    @property
    def kind(self) -> str:
        """The evidence kind this summarises."""
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {"top_features": [[name, value] for name, value in self.top_features],
                "additivity_max_error": self.additivity_max_error, "explainer": self.explainer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExplainSummary:
        """Read the stored JSON form (a bare feature name counts as a feature without its value)."""
        top = tuple((str(t[0]), t[1] if len(t) > 1 else None) if isinstance(t, list | tuple) else (str(t), None)
                    for t in data.get("top_features") or () if t not in (None, [], ()))
        return cls(top_features=top, additivity_max_error=data.get("additivity_max_error"),
                   explainer=data.get("explainer"))

    @property
    def top_names(self) -> list[str]:
        """The feature names, most important first."""
        return [name for name, _ in self.top_features]

    def lines(self) -> list[str]:
        """The key numbers in words."""
        return [f"top features: {', '.join(self.top_names[:5]) or '—'}", f"explainer: {self.explainer or '—'}"]


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


EvidenceSummary = DriftSummary | BiasSummary | ExplainSummary | OtherSummary
SUMMARY_TYPES: dict[str, type[DriftSummary] | type[BiasSummary] | type[ExplainSummary]] = {
    t.KIND: t for t in (DriftSummary, BiasSummary, ExplainSummary)
}


def summary_from_json(kind: str, data: Mapping[str, Any] | None) -> EvidenceSummary:
    """The typed summary of a ``kind`` evidence row from its stored JSON."""
    cls = SUMMARY_TYPES.get(kind)
    if cls is None:
        return OtherSummary(kind, dict(data or {}))
    return cls.from_json(data or {})
