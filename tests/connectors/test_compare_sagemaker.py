"""Training runs compared across two SageMaker accounts (moto server, reached by AssumeRole) and the instance
facts a cost estimate needs, as the connector records them."""

from __future__ import annotations

import pytest

from governance.catalog import Catalog
from governance.compare import compare_runs
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.costs import default_prices, estimate_costs
from governance.identity import Identity
from governance.sync import sync
from tests.connectors import sagemaker_seed as seed

ACTOR = Identity("ml.engineer@example.com", frozenset({"ml_engineer"}), source="cli")


@pytest.fixture
def synced(aws_env, tmp_path) -> Catalog:
    sc = seed.Scenario()
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-dev"][0])
    seed.seed_group(sm, s3, sc, "ml-dev", "credit-approval", 2, training=True)
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    prod = seed.seed_group(sm, s3, sc, "ml-prod", "credit-approval", 1, training=True)
    seed.seed_endpoint(sm, s3, sc, "ml-prod", "credit-prod", prod[0])
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text(seed.workspace_toml())
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    report = sync(Context(ws, load_settings(ws), catalog, ACTOR))
    assert report.ok, [r.error for r in report.results]
    return catalog


def test_runs_compare_across_two_accounts(synced: Catalog) -> None:
    result = compare_runs(synced, ["ml-dev:credit-approval:2", "ml-prod:credit-approval:1"])
    assert [s.account for s in result.sides] == ["ml-dev", "ml-prod"]
    assert [s.run_name for s in result.sides] == ["credit-approval-train-2", "credit-approval-train-1"]
    rows = {(r.group, r.name): r for r in result.rows}
    # seeded hyperparameters: max_depth = 3 + i % 3, eta 0.1 everywhere
    assert rows[("parameter", "max_depth")].values == ("5", "4") and rows[("parameter", "max_depth")].differs
    assert rows[("parameter", "eta")].values == ("0.1", "0.1") and not rows[("parameter", "eta")].differs
    # each account trained on its own bucket's data
    train = rows[("input", "train")]
    assert train.differs and train.values[0].startswith("s3://cs-111111111111-") and "333333333333" in train.values[1]


def test_cost_reads_instance_type_and_count_from_training_jobs_and_endpoints(synced: Catalog) -> None:
    report = estimate_costs(synced, default_prices())
    (training,) = report.version("ml-dev:credit-approval:1").lines
    assert (training.kind, training.instance_type, training.instance_count) == ("training", "ml.m5.large", 1)
    assert training.price_per_hour == 0.115
    # moto reports no BillableTimeInSeconds: the estimate falls back to the job's duration and says so
    assert training.basis.startswith("wall-clock") and training.hours is not None
    assert training.amount == pytest.approx(training.hours * 1 * 0.115)
    serving = [ln for ln in report.version("ml-prod:credit-approval:1").lines if ln.kind == "serving"]
    assert [(ln.what, ln.instance_type, ln.instance_count) for ln in serving] == [
        ("credit-prod/AllTraffic", "ml.m5.large", 1)]
    assert serving[0].basis.startswith("in service since created")  # the endpoint's CreationTime was recorded
    assert serving[0].amount == pytest.approx(serving[0].hours * 0.115)
