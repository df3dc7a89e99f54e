"""The governance side of the portal's presentation: version labels, details, ledger filters, the serving mark."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import InputError
from governance import ledger
from governance.catalog import Catalog
from governance.catalog_charts import metrics_chart, metrics_frame
from governance.history import version_details, version_json, version_label


def test_version_label_names_the_source_of_a_promoted_copy() -> None:
    assert version_label(3) == "3"
    assert version_label(1, ("dev", 3)) == "1 (from dev v3)"


def test_version_details_are_field_value_rows_with_rounded_metrics(demo_workspace) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    v = catalog.version("lab-prod:claims-fraud:2")
    rows = version_details(v)
    assert list(rows.columns) == ["field", "value"]
    fields = dict(zip(rows["field"], rows["value"], strict=True))
    assert fields["Version id"] == v.version_id and fields["Promoted from"] == v.source_version_id
    for name, value in v.metrics.items():
        assert fields[f"Metric: {name}"] == f"{value:.3f}"
    assert version_json(v)["version_id"] == v.version_id


def test_ledger_listing_filters_by_model(demo_workspace) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    everything = ledger.listing(catalog, limit=10_000)
    credit = ledger.listing(catalog, ledger.LedgerFilter(model="credit-approval"), limit=10_000)
    assert 0 < len(credit) < len(everything)
    requests = set(catalog.query_df("SELECT request_id FROM promotion_requests WHERE model = 'credit-approval'")
                   ["request_id"])
    for row in credit.itertuples():
        about_version = row.subject.startswith("version:") and row.subject.split(":")[2] == "credit-approval"
        about_request = row.subject.removeprefix("request:") in requests
        assert about_version or about_request or json.loads(row.payload).get("model") == "credit-approval", row
    assert any(s.startswith("request:") for s in credit["subject"])


def test_ledger_listing_filters_by_whole_days(demo_workspace) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    everything = ledger.listing(catalog, limit=10_000)
    day = everything["recorded_at"].min().date()
    flt = ledger.LedgerFilter.for_days(day, day)
    on_day = ledger.listing(catalog, flt, limit=10_000)
    assert len(on_day) and {t.date() for t in on_day["recorded_at"]} == {day}
    assert flt.until == dt.datetime.combine(day, dt.time()) + dt.timedelta(days=1)
    assert ledger.LedgerFilter.for_days(None, None) == ledger.LedgerFilter()
    with pytest.raises(InputError, match="before it starts"):
        ledger.LedgerFilter.for_days(day, day - dt.timedelta(days=1))


def test_metrics_chart_marks_the_serving_version(demo_workspace) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    versions = catalog.versions_of("claims-fraud")
    serving = {"lab-prod:claims-fraud:2"}
    df = metrics_frame(versions, ["dev", "staging", "prod"], serving)
    marked = set(df.loc[df["serving"], "version"])
    assert marked == {"prod v2 (serving)"}
    spec = metrics_chart(versions, ["dev", "staging", "prod"], serving).to_dict()
    assert "strokeWidth" in spec["encoding"]
