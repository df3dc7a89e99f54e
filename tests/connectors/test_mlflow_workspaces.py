"""MLflow workspaces (``mlflow server --enable-workspaces``): one account per workspace, or several workspaces of one
server in one account keyed ``WORKSPACE/MODEL``, populated with MLflow's own client.

Apart from test_mlflow_users.py so pytest-xdist's ``--dist loadfile`` can run the two files on different workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import AccountInfo
from connectors.mlflow.datasets import pandas_digest
from core.errors import ConfigError, CountersignError, InputError
from tests.connectors.mlflow_driver import MlflowDriver, unique
from tests.connectors.test_mlflow_users import connector, synced

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def server(mlflow_servers) -> Iterator[MlflowDriver]:
    driver = MlflowDriver(mlflow_servers[0])
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def workspace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowDriver]:
    """An ``mlflow server --enable-workspaces`` with workspaces ``risk`` and ``retail`` (MLflow's own REST API)."""
    from tests.servers.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-ws"), workspaces=True).start().wait()
    driver = MlflowDriver(server)
    for name in ("risk", "retail"):
        driver.client.post("/api/3.0/mlflow/workspaces", json={"name": name}).raise_for_status()
    yield driver
    driver.close()
    server.stop()


def test_each_workspace_is_an_account_that_sees_only_its_own_models(workspace_server: MlflowDriver,
                                                                    tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    # two teams on one server register a model of the same name, each with the real client in its workspace
    risk = workspace_server.train("credit", workspace="risk", serialization="skops")
    retail = workspace_server.train("credit", workspace="retail", serialization="skops")
    seen = {}
    for ws, out in (("risk", risk), ("retail", retail)):
        conn = connector(workspace_server, tmp_path / ws, workspace=ws)
        snap = conn.extract(None)
        assert [(v.model, v.version) for v in snap.versions] == [("credit", 1)]
        (version,) = snap.versions
        assert version.run_ref == f"run/{out['run_id']}"  # this workspace's run, not the other team's
        load_model(conn.fetch(version.artifact_uri))  # the artifacts proxy serves the workspace's files
        seen[ws] = version.artifact_sha256
    assert seen["risk"] and seen["retail"]
    # the server's default workspace holds neither
    assert [v for v in connector(workspace_server, tmp_path / "default").extract(None).versions
            if v.model == "credit"] == []


# -- several workspaces of one server in one account -------------------------------------------------------------


def test_one_account_reads_several_workspaces_keyed_by_workspace(workspace_server: MlflowDriver,
                                                                 tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    # the same model name in two workspaces: one account lists both, as risk/NAME and retail/NAME
    model = unique("scored")
    outs = {ws: workspace_server.train(model, workspace=ws, serialization="skops") for ws in ("risk", "retail")}
    conn = connector(workspace_server, tmp_path, workspaces=("risk", "retail"))
    snap = conn.extract(None)
    mine = {v.model: v for v in snap.versions if v.model.endswith("/" + model)}
    assert sorted(mine) == [f"retail/{model}", f"risk/{model}"]
    assert {m.name for m in snap.models} >= {f"retail/{model}", f"risk/{model}"}
    for ws, out in outs.items():
        version = mine[f"{ws}/{model}"]
        assert version.source_ref == f"models:/{ws}/{model}/1"
        assert version.run_ref == f"run/{out['run_id']}"  # each workspace's own run
        load_model(conn.fetch(version.artifact_uri))  # read through that workspace's artifact proxy
        assert version.artifact_sha256 and conn.artifact_digest(version).sha256 == version.artifact_sha256
    # isolation: a URI of the risk workspace's files named as the retail workspace's is refused by the server
    risk_uri = mine[f"risk/{model}"].artifact_uri
    assert risk_uri.startswith("mlflow-workspace:risk/")
    with pytest.raises(CountersignError):
        conn.fetch("mlflow-workspace:retail/" + risk_uri.split("/", 1)[1])
    with pytest.raises(InputError, match="workspace"):
        conn.fetch(risk_uri.split("/", 1)[1])  # a bare URI names no workspace: refused, not guessed
    # incremental: nothing new, then a new version in retail only
    assert [v for v in conn.extract(snap.watermark).versions if v.model.endswith(model)] == []
    workspace_server.train(model, workspace="retail", serialization="skops")
    again = conn.extract(snap.watermark)
    assert [(v.model, v.version) for v in again.versions if v.model.endswith(model)] == [(f"retail/{model}", 2)]
    # "*": every workspace the server lists, the default one too
    every = connector(workspace_server, tmp_path / "all", workspaces="*").extract(None)
    assert {f"risk/{model}", f"retail/{model}"} <= {v.model for v in every.versions}


def test_promotions_and_approvals_go_to_the_versions_own_workspace(workspace_server: MlflowDriver,
                                                                    tmp_path: Path) -> None:
    from connectors.base import PromotionRef

    model = unique("promoted")
    for ws in ("risk", "retail"):
        workspace_server.train(model, workspace=ws, serialization="skops")
    dev = connector(workspace_server, tmp_path / "dev", workspaces=("risk", "retail"))
    prod = connector(workspace_server, tmp_path / "p", AccountInfo("ml-prod", "prod"), workspaces=("risk", "retail"),
                     alias_environments={"champion": "prod"})
    versions = {v.model: v for v in dev.extract(None).versions if v.model.endswith(model)}
    source = versions[f"retail/{model}"]
    approved = dev.set_approval(source, "Approved", "signed off")
    assert approved.model == f"retail/{model}" and approved.approval_status == "Approved"
    ref = PromotionRef("req-ws-1", "ab" * 32, "ml", source.source_ref, ("a@x", "b@x"), environment="prod",
                       artifact_sha256=source.artifact_sha256)
    moved = prod.register_copy(source, dev, ref)
    assert moved.source_ref == f"models:/retail/{model}/1" and moved.labels == ("champion",)
    assert moved.environment == "prod"
    after = {v.model: v for v in prod.extract(None).versions if v.model.endswith(model)}
    # the risk workspace's model of the same name is untouched: no alias, no approval
    assert after[f"risk/{model}"].labels == () and after[f"risk/{model}"].approval_status == "PendingManualApproval"
    assert after[f"retail/{model}"].approval_status == "Approved"
    # a promotion whose model names a workspace the target does not read is refused before anything is written
    only_risk = connector(workspace_server, tmp_path / "r", AccountInfo("ml-risk", "prod"), workspaces=("risk",),
                          alias_environments={"champion": "prod"})
    with pytest.raises(ConfigError, match="retail"):
        only_risk.register_copy(source, dev, ref)


def test_a_several_workspace_account_syncs_into_the_catalog_and_reads_each_versions_data(
        workspace_server: MlflowDriver, tmp_path: Path) -> None:
    from governance.sources import version_file

    model = unique("synced")
    outs = {ws: workspace_server.train(model, workspace=ws, source="artifact", seed=seed)
            for ws, seed in (("risk", 1), ("retail", 2))}
    ws, settings, catalog = synced(tmp_path, {"tracking_uri": workspace_server.server.url, "workspaces": "*"},
                                   f'\n[models."risk/{model}"]\nlabel = "label"\n')
    for team, out in outs.items():
        version = catalog.version(f"ml:{team}/{model}:1")
        assert version.run_id == f"ml:run/{out['run_id']}"
        assert version.data_uris["reference"].startswith(f"mlflow-workspace:{team}/")
        assert pandas_digest(version_file(ws, settings, version, "reference")) == out["datasets"]["train"]["digest"]
    assert settings.account("ml").location.endswith("(every workspace)")


def test_a_version_of_a_several_workspace_account_is_promoted_to_another_server_under_its_own_name(
        workspace_server: MlflowDriver, server: MlflowDriver, tmp_path: Path) -> None:
    from connectors.base import PromotionRef

    model = unique("crossing")
    workspace_server.train(model, workspace="risk", serialization="skops")
    dev = connector(workspace_server, tmp_path / "dev", workspaces=("risk", "retail"))
    (source,) = [v for v in dev.extract(None).versions if v.model == f"risk/{model}"]
    prod = connector(server, tmp_path / "prod", AccountInfo("ml-prod", "prod"), alias_environments={"champion": "prod"})
    ref = PromotionRef("req-ws-cross", "cd" * 32, "ml", source.source_ref, ("a@x", "b@x"), environment="prod",
                       artifact_sha256=source.artifact_sha256)
    copy = prod.register_copy(source, dev, ref)
    # MLflow names carry no workspace: the copy is the bare name on a server without workspaces
    assert copy.model == model and copy.labels == ("champion",) and copy.artifact_sha256 == source.artifact_sha256
    assert copy.source_version_ref == f"models:/risk/{model}/1"
    # the card of the model in one workspace is read and written there only
    card = dev.read_card(f"risk/{model}")
    assert card.target.endswith("(workspace risk)")
    written = dev.write_card(f"risk/{model}", {"limitations": "EU applicants only"}, card.revision)
    assert written.fields["limitations"] == "EU applicants only"
    with pytest.raises(CountersignError):
        dev.read_card(f"retail/{model}")  # no such model in retail


def test_workspaces_on_a_server_without_them_or_unknown_ones_are_refused(workspace_server: MlflowDriver,
                                                                        server: MlflowDriver, tmp_path: Path) -> None:
    # a server without --enable-workspaces ignores the header: every "workspace" would list the same models twice
    with pytest.raises(ConfigError, match="--enable-workspaces"):
        connector(server, tmp_path / "plain", workspaces=("risk", "retail")).extract(None)
    with pytest.raises(ConfigError, match="'nosuch'"):
        connector(workspace_server, tmp_path / "ws", workspaces=("risk", "nosuch")).extract(None)
