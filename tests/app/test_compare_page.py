"""The Model page's consistency table and the Compare page, on the demo workspace (planted: repair-cost v2 reached
prod on another container image than the one validated in dev and staging)."""

from __future__ import annotations

import json
import re


def test_model_page_flags_the_planted_image_difference(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="risk.officer@demo.countersign.dev").run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("repair-cost").run()
    at.selectbox(key="model.version").set_value("lab-prod:repair-cost:2").run()
    assert not at.exception, at.exception
    assert any("image digest" in e.value for e in at.error)
    table = at.dataframe[-1].value  # the consistency table, after the version's details
    flagged = set(table.loc[table["Status"] == "DIFFERS", "Property"])
    assert flagged == {"image", "image digest", "framework version"}
    assert list(table.columns[2:5]) == ["dev · lab-dev v2", "staging · lab-staging v2", "prod · lab-prod v2"]


def test_model_page_confirms_a_consistent_lineage(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="auditor@demo.countersign.dev").run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    at.selectbox(key="model.version").set_value("lab-prod:claims-fraud:2").run()
    assert not at.exception, at.exception
    assert any("same artifact, container" in s.value for s in at.success)
    at.toggle(key="model.consistency.only").set_value(False).run()
    table = at.dataframe[-1].value  # the consistency table, after the version's details
    assert "DIFFERS" not in set(table["Status"]) and "sha256" in set(table["Property"])


def test_compare_page_puts_runs_side_by_side_with_a_chart_and_costs(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="data.scientist@demo.countersign.dev").run()
    at.switch_page("app_pages/compare.py").run()
    at.multiselect(key="compare.versions").set_value(["lab-dev:claims-fraud:1", "lab-dev:claims-fraud:3"]).run()
    assert not at.exception, at.exception
    runs = at.dataframe[0].value
    assert {"n_estimators", "validation:auc"} <= set(runs["Name"]) and set(runs["Differs"]) == {"DIFFERS"}
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["mark"]["type"] == "line" and spec["encoding"]["y"]["field"] == "scaled"  # parallel coordinates
    per_version = at.dataframe[-1].value
    assert list(per_version["Version"]) == ["lab-dev:claims-fraud:1", "lab-dev:claims-fraud:3"]
    # dev training: billable 4200 s (70 min less 2 of provisioning) on one ml.m5.xlarge at 0.23 USD/h
    assert per_version["Training (USD)"].tolist() == [round(4200 / 3600 * 0.23, 2)] * 2
    assert any("Estimate" in c.value for c in at.caption)


def test_compare_page_says_there_is_nothing_to_estimate_rather_than_show_zeros(demo_copy, app_factory) -> None:
    # registries that record no instance type (MLflow, ZenML runs): no table of 0.00 that reads like a free model
    from governance.catalog import Catalog

    with Catalog(demo_copy.catalog_path).transaction() as con:
        con.execute("UPDATE runs SET raw = '{}'")
        con.execute("UPDATE deployments SET raw = '{}'")
    at = app_factory(demo_copy.root, persona="data.scientist@demo.countersign.dev").run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("Nothing to estimate: no training run or endpoint in the catalog records an "
                                  "instance type") for i in at.info)
    assert not [t for t in at.dataframe if any(str(c).startswith("Total (") for c in t.value.columns)]


def test_compare_costs_put_each_heading_over_its_own_table_and_rows_in_one_format(demo_workspace,
                                                                                   app_factory) -> None:
    """Issue 35, finding 14: "Per model" and "Per account" sat side by side above two full-width tables; a run's
    "0" stood next to "0.27"."""
    at = app_factory(demo_workspace.root, persona="data.scientist@demo.countersign.dev").run()
    at.switch_page("app_pages/compare.py").run()
    at.multiselect(key="compare.versions").set_value(["lab-dev:claims-fraud:1", "lab-dev:claims-fraud:3"]).run()
    assert not at.exception, at.exception
    placed = {}
    for column in at.columns:
        heads = [m.value for m in column.markdown]
        for name in ("**Per model**", "**Per account**"):
            if name in heads:
                placed[name] = [t.proto.id for t in column.dataframe]
    assert set(placed) == {"**Per model**", "**Per account**"} and all(len(v) == 1 for v in placed.values()), placed
    runs = at.dataframe[0].value
    for row in runs.itertuples(index=False):
        cells = [str(v) for v in row[2:-1]]
        numeric = [c for c in cells if re.fullmatch(r"-?[\d,]+(\.\d+)?", c)]
        if len(numeric) == len(cells) and any("." in c for c in cells):
            assert len({len(c.partition(".")[2]) for c in cells}) == 1, cells
