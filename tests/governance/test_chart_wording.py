"""Charts a person reads whole (issue 35): labels not cut, figures without scientific notation, legends in words,
times on a 24-hour UTC clock. Read from the Vega-Lite specs the pages and the PDF draw."""

from __future__ import annotations

import datetime as dt
import json
import re

from governance.analytics import evidence_charts as ec
from governance.catalog import Catalog
from governance.catalog_charts import metrics_chart, timeline_chart
from governance.history import model_timeline

SCIENTIFIC = re.compile(r"\d\.?\d*e[+-]\d+")
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def _axes(spec: object) -> list[dict]:
    """Every axis setting in a (layered, faceted) spec."""
    out = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "axis" and isinstance(value, dict):
                out.append(value)
            out += _axes(value)
    elif isinstance(spec, list):
        for item in spec:
            out += _axes(item)
    return out


def _values(spec: dict) -> list[dict]:
    """The rows of every dataset in a spec."""
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def test_bins_read_without_scientific_notation() -> None:
    labels = ec.bin_labels([10850.2, 12311.7], [12311.7, 13790.0])
    assert labels == ["10,850–12,312", "12,312–13,790"], labels
    assert ec.bin_labels([0.00012, 0.5], [0.5, 1.0]) == ["0.00012–0.5", "0.5–1"]
    assert ec.step_label("income", 42320.0) == "income = 42,320"
    assert not any(SCIENTIFIC.search(x) for x in ec.bin_labels([1e-7, 1.085e4], [1.085e4, 2e9]))


def test_every_category_axis_shows_its_labels_whole() -> None:
    from governance.catalog import Version

    fields = {f: None for f in Version.__dataclass_fields__}
    v = Version(**{**fields, "version_id": "lab-prod:m:2", "environment": "prod", "version": 2,
                   "metrics": {"auc": 0.76}, "account": "lab-prod", "model": "m"})
    spec = metrics_chart([v], ["dev", "prod"], serving={"lab-prod:m:2"}).to_dict(validate=False)
    assert _axes(spec) and all(a.get("labelLimit") == 0 for a in _axes(spec)), _axes(spec)
    assert all(a.get("labelAngle", 0) == 0 for a in _axes(spec)), "rotated labels were cut at the chart's edge"
    version_axis = spec["spec"]["encoding"]["y"]["axis"] if "spec" in spec else spec["encoding"]["y"]["axis"]
    assert version_axis.get("labelOverlap") is False, "vega hid every other version's label"


def test_the_history_chart_says_states_in_words_on_a_24_hour_utc_clock(demo_workspace) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    timeline = model_timeline(catalog, "claims-fraud", now=dt.datetime(2026, 12, 7, 16, 41))
    spec = timeline_chart(timeline, ["dev", "staging", "prod"]).to_dict(validate=False)
    statuses = {row["status"] for row in _values(spec) if row.get("status")}
    assert statuses and not any(re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+", s) for s in statuses), statuses
    assert not any(SNAKE.search(s) for s in statuses), statuses
    time_axes = [a for a in _axes(spec) if "format" in a]
    assert time_axes and all("%H" in a["format"] and "%I" not in a["format"] for a in time_axes), time_axes
    encoded = json.dumps(spec)
    assert '"type": "utc"' in encoded, "the time scale must be UTC, not the browser's zone"
    starts = [row["start"] for row in _values(spec)]
    assert all(str(s).endswith(("Z", "+00:00")) for s in starts), starts[:3]


def test_the_bias_chart_says_what_its_line_and_whiskers_are() -> None:
    from governance.analytics import bias as bias_mod

    def group(name: str, rate: float) -> bias_mod.GroupStats:
        return bias_mod.GroupStats(group=name, n=120, tp=30, fp=6, fn=20, tn=64, selection_rate=rate, base_rate=0.4,
                                   tpr=0.6, fpr=0.1, precision=0.8, accuracy=0.8,
                                   selection_rate_ci=(rate - 0.08, rate + 0.08), tpr_ci=None, fpr_ci=None, small=False)

    attribute = bias_mod.AttributeBias(attribute="sex", groups=(group("female", 0.3), group("male", 0.5)),
                                       demographic_parity_difference=0.2, demographic_parity_ratio=0.6,
                                       equalized_odds_difference=None, equal_opportunity_difference=None,
                                       four_fifths_pass=False, clarify={})
    result = bias_mod.BiasResult(attributes=(attribute,), intersections=(), n=240, dropped_rows=0, label="y",
                                 positive_label=1, prediction="p", warnings=(), seconds=0.0, engine={})
    text = json.dumps(ec.bias_chart(result, "sex").to_dict(validate=False))
    assert "95% interval" in text, "the whiskers are not named"
    assert re.search(r"dashed[^\"]*four-fifths", text), "the dashed line is not named"
