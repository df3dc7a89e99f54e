"""Comparing across environments on real folder registries synced into a real catalog: consistency of a lineage,
the identical-artifact gate, training runs side by side, cost estimates against hand-computed values, the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from countersign_cli.main import main
from governance.catalog import Catalog
from governance.compare import artifact_check, compare_runs, diff_versions, environment_consistency
from governance.config import CostsConfig, Workspace, load_settings
from governance.context import Context
from governance.costs import default_prices, estimate_costs, price_table
from governance.identity import Identity
from governance.policy import evaluate, gates_for
from governance.sync import sync

ADMIN = Identity("admin@example.com", frozenset({"admin"}), source="cli")
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DIGEST = "sha256:" + hashlib.sha256(b"image 1.2-1").hexdigest()
OTHER_DIGEST = "sha256:" + hashlib.sha256(b"image rebuilt").hexdigest()

CONFIG = """
[environments]
order = ["dev", "staging", "prod"]

[[accounts]]
name = "dev"
environment = "dev"
connector = "folder"
path = "reg/dev"

[[accounts]]
name = "staging"
environment = "staging"
connector = "folder"
path = "reg/staging"

[[accounts]]
name = "prod"
environment = "prod"
connector = "folder"
path = "reg/prod"

[policy]
default_tier = "strict"

[policy.tiers.strict]
require_identical_artifact = true

[policy.tiers.lenient]
approvals_required = 1

[costs]
source = "test contract prices"
hosting = { "ml.m5.large" = 0.2 }
"""


def write_version(root: Path, env: str, number: int, artifact: bytes, *, digest: str = DIGEST,
                  source: tuple[str, int] | None = None, run: dict | None = None,
                  env_vars: dict | None = None) -> None:
    vdir = root / "reg" / env / "churn" / str(number)
    vdir.mkdir(parents=True)
    (vdir / "model.skops").write_bytes(artifact)
    meta = {
        "approval_status": "Approved", "created_at": f"2026-01-0{number}T09:00:00", "framework": "sklearn",
        "image": IMAGE, "image_digest": digest,
        "environment_variables": env_vars or {"SAGEMAKER_PROGRAM": "inference.py"},
        "inference": {"content_types": ["text/csv"], "instance_types": ["ml.m5.large"]},
        "metrics": {"auc": 0.8 + number / 100},
    }
    if run:
        meta["run"] = run
    if source:
        meta["source"] = {"account": source[0], "ref": f"churn/{source[1]}"}
    (vdir / "metadata.json").write_text(json.dumps(meta))


RUN_1 = {"name": "churn-train-1", "status": "Completed", "started_at": "2026-01-01T08:00:00",
         "ended_at": "2026-01-01T08:50:00", "params": {"max_depth": 3, "learning_rate": 0.1},
         "metrics": {"validation:auc": 0.81}, "inputs": {"train": "s3://data/churn/2025.csv"},
         "billable_seconds": 5400, "instance_type": "ml.m5.xlarge", "instance_count": 2}
RUN_2 = {"name": "churn-train-2", "status": "Completed", "started_at": "2026-01-02T08:00:00",
         "ended_at": "2026-01-02T08:30:00", "params": {"max_depth": 5, "learning_rate": 0.1},
         "metrics": {"validation:auc": 0.84}, "inputs": {"train": "s3://data/churn/2026.csv"},
         "instance_type": "ml.p9.huge"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Catalog]:
    """dev v1 → staging v2 → prod v1 carry one artifact; dev v2 → staging v1 was rebuilt on the way (other
    artifact bytes, other image digest)."""
    root = tmp_path_factory.mktemp("compare") / "ws"
    ws = Workspace(root)
    ws.ensure_dirs()
    ws.config_path.write_text(CONFIG)
    write_version(root, "dev", 1, b"model A", run=RUN_1)
    write_version(root, "dev", 2, b"model B", run=RUN_2)
    write_version(root, "staging", 1, b"model B, rebuilt", digest=OTHER_DIGEST, source=("dev", 2), run=RUN_2)
    write_version(root, "staging", 2, b"model A", source=("dev", 1), run=RUN_1)
    write_version(root, "prod", 1, b"model A", source=("staging", 2))
    (root / "reg" / "prod" / "deployments.json").write_text(json.dumps([
        {"endpoint": "churn-prod", "model": "churn", "version": 1, "status": "InService",
         "created_at": "2026-01-01T00:00:00", "updated_at": "2026-01-02T00:00:00",
         "instance_type": "ml.m5.large", "instance_count": 3}]))
    (root / "reg" / "staging" / "deployments.json").write_text(json.dumps([
        {"endpoint": "churn-shadow", "model": "churn", "version": 2, "status": "OutOfService",
         "created_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T12:00:00", "instance_type": "ml.m5.large"}]))
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    report = sync(Context(ws, load_settings(ws), catalog, ADMIN))
    assert report.ok, [r.error for r in report.results]
    return ws, catalog


def test_a_rebuilt_copy_is_flagged_on_artifact_and_image_digest(world) -> None:
    _, catalog = world
    result = environment_consistency(catalog, "staging:churn:1", ("dev", "staging", "prod"))
    assert [s.version_id for s in result.sides] == ["dev:churn:2", "staging:churn:1"]
    assert not result.consistent
    assert {(f.group, f.name) for f in result.critical_differences} == {("Artifact", "sha256"),
                                                                        ("Container", "image digest")}
    digest = next(f for f in result.facets if f.name == "image digest")
    assert digest.values == (DIGEST, OTHER_DIGEST)
    # what did not change is not flagged
    same = {(f.group, f.name) for f in result.facets if f.status == "same"}
    assert {("Container", "image"), ("Inference", "content types"),
            ("Environment variables", "SAGEMAKER_PROGRAM")} <= same


def test_an_unchanged_lineage_is_consistent_across_three_environments(world) -> None:
    _, catalog = world
    result = environment_consistency(catalog, "prod:churn:1", ("dev", "staging", "prod"))
    assert [s.environment for s in result.sides] == ["dev", "staging", "prod"]
    assert result.consistent and result.critical_differences == ()
    # each account stores its own copy: the location differs and is shown, but does not break consistency
    assert [(f.group, f.name) for f in result.differences] == [("Artifact", "location")]


def test_identical_artifact_gate_fails_a_promotion_of_a_rebuilt_artifact(world) -> None:
    ws, catalog = world
    settings = load_settings(ws)
    # promoting the rebuilt staging copy onward: it differs from the approved dev version it came from
    onward = {r.gate: r for r in evaluate(catalog, settings, "staging:churn:1", "prod").results}
    assert onward["identical_artifact"].status == "fail"
    assert "dev:churn:2" in onward["identical_artifact"].message
    # the dev version whose copy in the target differs fails too
    source = {r.gate: r for r in evaluate(catalog, settings, "dev:churn:2", "staging").results}
    assert source["identical_artifact"].status == "fail"
    assert "staging:churn:1" in source["identical_artifact"].message
    # the faithful lineage passes
    good = {r.gate: r for r in evaluate(catalog, settings, "staging:churn:2", "prod").results}
    assert good["identical_artifact"].status == "pass"
    assert artifact_check(catalog, "staging:churn:2", "prod").observed == {
        "staging:churn:2": hashlib.sha256(b"model A").hexdigest(), "dev:churn:1": hashlib.sha256(b"model A").hexdigest(),
        "prod:churn:1": hashlib.sha256(b"model A").hexdigest()}


def test_the_gate_applies_only_where_the_tier_asks_for_it(world) -> None:
    ws, _ = world
    settings = load_settings(ws)
    assert "identical_artifact" in [g.name for g in gates_for(settings.tier("strict"), "prod")]
    assert "identical_artifact" not in [g.name for g in gates_for(settings.tier("lenient"), "prod")]


def test_runs_side_by_side_flag_exactly_what_differs(world) -> None:
    _, catalog = world
    result = compare_runs(catalog, ["dev:churn:1", "dev:churn:2"])
    rows = {(r.group, r.name): r for r in result.rows}
    assert rows[("parameter", "max_depth")].values == ("3", "5") and rows[("parameter", "max_depth")].differs
    assert not rows[("parameter", "learning_rate")].differs
    assert rows[("metric", "validation:auc")].values == (0.81, 0.84)
    assert rows[("input", "train")].differs
    assert rows[("run", "duration (s)")].values == (3000.0, 1800.0)
    # a copy keeps its source's run: only the metric registered with each version (set per test version) differs
    same = compare_runs(catalog, ["dev:churn:1", "staging:churn:2"])
    assert [(r.group, r.name) for r in same.differences] == [("registered metric", "auc")]


def test_costs_equal_hand_computed_values(world) -> None:
    ws, catalog = world
    prices = price_table(load_settings(ws).costs)
    report = estimate_costs(catalog, prices, as_of=dt.datetime(2026, 1, 3))
    dev1 = report.version("dev:churn:1")
    # 5400 billable seconds x 2 instances x 0.23 USD/h (shipped ml.m5.xlarge training price)
    assert dev1.training == pytest.approx(5400 / 3600 * 2 * 0.23) == pytest.approx(0.69)
    # an instance type priced nowhere is reported, not guessed; the wall-clock fallback is said
    dev2 = report.version("dev:churn:2")
    assert dev2.training == 0 and not dev2.complete and not dev2.priced and dev1.priced and dev1.gap is None
    assert dev2.gap == "not priced: unpriced instance type or unknown time"
    assert dev2.lines[0].basis.startswith("wall-clock") and dev2.lines[0].hours == pytest.approx(0.5)
    assert report.unpriced == ("training:ml.p9.huge",)
    # a promoted copy is not trained again
    assert report.version("staging:churn:2").training == 0
    assert not report.version("staging:churn:2").lines[0].counted
    # in service since 2026-01-01 until as_of: 48 h x 3 instances x 0.2 (the workspace's [costs] override)
    assert report.version("prod:churn:1").serving == pytest.approx(48 * 3 * 0.2) == pytest.approx(28.8)
    # out of service: from creation to its last update, 12 h x 1 x 0.2
    assert report.version("staging:churn:2").serving == pytest.approx(2.4)
    assert report.by_model == {"churn": pytest.approx(0.69 + 28.8 + 2.4)}
    assert report.by_account == {"dev": pytest.approx(0.69), "prod": pytest.approx(28.8),
                                 "staging": pytest.approx(2.4)}
    assert "test contract prices" in report.price_source and "Estimate" in report.caveat


def test_runs_without_an_instance_type_are_not_priced_and_nothing_is_shown_as_zero(world, capsys) -> None:
    # MLflow and ZenML runs record no instance type: no estimate, said as such, never "0.00"
    from governance.costs import CostLine, CostReport, VersionCost

    line = CostLine("training", "ml:m:1", "ml", "run-1", None, 1, 0.5, None, None, "wall-clock duration")
    version = VersionCost("ml:m:1", "m", "ml", "dev", (line,))
    assert not version.priced and version.gap == "not priced: the registry records no instance type"
    report = CostReport(dt.datetime(2026, 1, 3), "USD", "test", (version,), ())
    assert not report.priced and report.as_dict()["versions"][0]["gap"] == version.gap

    ws, _ = world
    assert main(["costs", "--workspace", str(ws.root)]) == 0
    out = capsys.readouterr().out
    row = next(x for x in out.splitlines() if x.startswith("dev:churn:2 "))
    assert "0.00" not in row and "—" in row and "(not priced: unpriced instance type or unknown time)" in row
    assert "0.69" in next(x for x in out.splitlines() if x.startswith("dev:churn:1 "))


def test_price_table_is_dated_and_overridable() -> None:
    shipped = default_prices()
    assert shipped.as_of and shipped.region == "us-east-1" and shipped.currency == "USD"
    assert shipped.price("training", "ml.m5.large") == 0.115
    own = price_table(CostsConfig(hosting={"ml.m5.large": 0.5}, replace_defaults=True, source="ours"))
    assert own.price("serving", "ml.m5.large") == 0.5 and own.price("training", "ml.m5.large") is None


def test_cli_diff_json_exits_1_on_a_difference_and_0_when_consistent(world, capsys) -> None:
    ws, _ = world
    assert main(["diff", "--workspace", str(ws.root), "dev:churn:2", "staging:churn:1", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["consistent"] is False
    assert {"Artifact: sha256", "Container: image digest"} <= set(doc["differences"])
    assert main(["diff", "--workspace", str(ws.root), "dev:churn:1", "prod:churn:1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["consistent"] is True
    assert main(["diff", "--workspace", str(ws.root), "dev:churn:1", "dev:churn:9"]) == 2
    assert "unknown version" in capsys.readouterr().err


def test_cli_runs_compare_and_costs_json(world, capsys) -> None:
    ws, _ = world
    assert main(["runs", "compare", "--workspace", str(ws.root), "dev:churn:1", "dev:churn:2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "parameter: max_depth" in doc["differences"]
    assert main(["costs", "--workspace", str(ws.root), "--as-of", "2026-01-03", "--json"]) == 0
    costs = json.loads(capsys.readouterr().out)
    assert costs["by_account"] == {"dev": 0.69, "prod": 28.8, "staging": 2.4}


def test_diff_of_a_version_with_itself_is_refused(world) -> None:
    from core.errors import InputError

    with pytest.raises(InputError, match="two different versions"):
        diff_versions(world[1], "dev:churn:1", "dev:churn:1")


def test_parallel_coordinates_scale_each_metric_across_the_versions(world) -> None:
    from governance.compare_charts import runs_chart, runs_frame

    result = compare_runs(world[1], ["dev:churn:1", "dev:churn:2", "staging:churn:2"])
    df = runs_frame(result)
    # the run's validation:auc and the registered auc are one axis; the run's value wins
    auc = df[df["metric"] == "auc"].set_index("version")
    assert auc["value"].to_dict() == {"dev:churn:1": 0.81, "dev:churn:2": 0.84, "staging:churn:2": 0.81}
    # 0.81 against 0.84 is under 5% of the value: drawn to scale on an axis 5% of 0.84 tall, not bottom to top
    assert auc["scaled"].to_dict() == pytest.approx({"dev:churn:1": 1 / 7, "dev:churn:2": 6 / 7,
                                                     "staging:churn:2": 1 / 7})
    # one metric is one axis: no line to draw, the table beside it says it all
    assert runs_chart(result) is None

    # two metrics: a line per version across both axes, each scaled on its own
    import types

    two = types.SimpleNamespace(
        sides=[types.SimpleNamespace(version_id=v) for v in ("a", "b")],
        metric_records=lambda: [("a", "dev", "auc", "run metric", 0.8), ("b", "dev", "auc", "run metric", 0.9),
                                ("a", "dev", "f1", "run metric", 0.7), ("b", "dev", "f1", "run metric", 0.6)])
    spec = runs_chart(two).to_dict()
    assert spec["encoding"]["y"]["field"] == "scaled" and spec["encoding"]["detail"]["field"] == "version"
    scaled = {(r["version"], r["metric"]): r["scaled"] for r in runs_frame(two).to_dict("records")}
    assert scaled == {("a", "auc"): 0.0, ("b", "auc"): 1.0, ("a", "f1"): 1.0, ("b", "f1"): 0.0}
    # issue 35, finding 5: 0.764 against 0.763 is two nearly level points, not a swing across the whole axis
    close = types.SimpleNamespace(sides=two.sides, metric_records=lambda: [
        ("a", "dev", "auc", "run metric", 0.764), ("b", "dev", "auc", "run metric", 0.763),
        ("a", "dev", "f1", "run metric", 0.7), ("b", "dev", "f1", "run metric", 0.6)])
    near = {(r["version"], r["metric"]): r["scaled"] for r in runs_frame(close).to_dict("records")}
    assert abs(near[("a", "auc")] - near[("b", "auc")]) < 0.05 and near[("a", "f1")] - near[("b", "f1")] == 1.0


def test_pdf_section_flags_differences_and_lists_an_unrecorded_hash_as_a_gap(world) -> None:
    import dataclasses
    import io

    from pypdf import PdfReader

    from governance.compare import compare_versions
    from governance.reports.build import build_pdf
    from governance.reports.facts import collect_facts
    from governance.reports.template_library import load_template

    ws, catalog = world
    facts = collect_facts(ws, load_settings(ws), catalog, "staging:churn:1", ADMIN)
    built = build_pdf(facts, load_template("sr-11-7"), built_at=dt.datetime(2026, 12, 1, 12, 0))
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(built.pdf)).pages)
    assert "Consistency across environments" in text
    assert "differ in artifact: sha256; container: image digest" in " ".join(text.split())
    assert not [g for g in built.gaps if g.block == "Consistency across environments"]
    # the HTML report beside it shows the same rows, highlighted the same way
    from governance.reports.html import build_html

    page = build_html(facts, load_template("sr-11-7"), built_at=dt.datetime(2026, 12, 1, 12, 0)).decode()
    assert '<tr class="differs"><td>Artifact: sha256</td>' in page and "<td>DIFFERS</td></tr>" in page
    # a registry that does not hash artifacts: the identity cannot be confirmed, and the report says so
    unhashed = [dataclasses.replace(v, artifact_sha256=None) if v.environment == "staging" else v
                for v in (catalog.version("dev:churn:2"), catalog.version("staging:churn:1"))]
    gap = build_pdf(dataclasses.replace(facts, consistency=compare_versions("x", unhashed)), load_template("sr-11-7"),
                    built_at=dt.datetime(2026, 12, 1, 12, 0))
    assert [g.what for g in gap.gaps if g.block == "Consistency across environments"] == [
        "artifact sha256 of staging:churn:1 (the registry does not record it): the artifact identity across "
        "environments cannot be confirmed"]
