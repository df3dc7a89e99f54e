"""MLflow accounts against real `mlflow server` processes (sqlite backend, artifacts through the server's proxy).

Two servers run for the whole session (``mlflow_servers``); every test seeds models under names of its own, so
assertions look at those models only. Syncs go through ``governance.sync`` into a real catalog where the catalog
is what the user relies on.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from connectors.base import AccountInfo, PromotionRef
from connectors.mlflow import TAG_REQUEST, MlflowConnector, MlflowSettings, version_ref
from core import structs
from core.errors import ArtifactMismatch, ConfigError, ConnectorError, InputError, UnsafeArtifact
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import Identity
from governance.sync import sync
from tests.connectors.mlflow_driver import MlflowDriver, unique, write_workspace
from tests.servers.proxy import Proxy

ROOT = Path(__file__).resolve().parents[2]
ACTOR = Identity("ml.engineer@example.com", frozenset({"ml_engineer"}), source="cli")
NO_ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def servers(mlflow_servers):
    a, b = (MlflowDriver(s) for s in mlflow_servers)
    yield a, b
    a.close()
    b.close()


def connector(url: str, tmp_path: Path, *, name: str = "ml", environment: str = "dev", environ=NO_ENV,
              **keys) -> MlflowConnector:
    return MlflowConnector(MlflowSettings(tracking_uri=url, **keys), AccountInfo(name, environment, secrets=environ),
                           root=tmp_path, cache_dir=tmp_path / "cache")


def mine(snapshot, model: str):
    return sorted((v for v in snapshot.versions if v.model == model), key=lambda v: v.version)


def make_ws(tmp_path: Path, accounts: dict) -> tuple[Workspace, Catalog]:
    ws = Workspace(write_workspace(tmp_path / "ws", accounts))
    ws.ensure_dirs()
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    return ws, catalog


def run_sync(ws: Workspace, catalog: Catalog, **kw):
    return sync(Context(ws, load_settings(ws), catalog, ACTOR), **kw)


def catalog_versions(catalog: Catalog, account: str, model: str) -> dict[int, dict]:
    df = catalog.query_df("SELECT * FROM versions WHERE account = ? AND model = ? ORDER BY version", [account, model])
    return {int(r["version"]): r for r in df.to_dict("records")}


# -- settings: no server needed --------------------------------------------------------------------------------------


def test_credentials_come_from_the_named_variables_only() -> None:
    s = MlflowSettings(tracking_uri="https://mlflow.example.com/", token_env="MLFLOW_PROD_TOKEN")
    assert s.tracking_uri == "https://mlflow.example.com"
    assert s.credentials({"MLFLOW_TRACKING_TOKEN": "default"}).token is None  # another variable was named
    creds = s.credentials({"MLFLOW_PROD_TOKEN": "t0k", "MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p"})
    assert creds.token == "t0k" and creds.username is None and "t0k" not in repr(creds)
    basic = MlflowSettings(tracking_uri="http://h:5000").credentials(
        {"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw"})
    assert (basic.username, basic.password, basic.source) == ("ann", "pw", "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD")
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_PASSWORD is not"):
        MlflowSettings(tracking_uri="http://h:5000").credentials({"MLFLOW_TRACKING_USERNAME": "ann"})


@pytest.mark.parametrize("keys, message", [
    ({"tracking_uri": "file:///tmp/mlruns"}, "http:// or https://"),
    ({"tracking_uri": "http://user:pw@h:5000"}, "carries a password: credentials never go into countersign.toml"),
    ({"tracking_uri": "http://h", "token_env": "my token"}, "environment variable"),
    ({"tracking_uri": "http://h", "alias_environments": {"latest": "prod"}}, "not a valid MLflow alias"),
    ({"tracking_uri": "http://h", "alias_environments": {"a": "prod", "b": "prod"}}, "both mean environment"),
    ({"tracking_uri": "http://h", "password": "x"}, "password: unknown key"),
])
def test_bad_settings_are_refused_with_a_reason(keys: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        structs.convert(keys, MlflowSettings)  # how an account's table is read


def test_alias_environments_declare_the_environments_the_account_holds() -> None:
    s = MlflowSettings(tracking_uri="http://h", alias_environments={"champion": "prod", "challenger": "staging"})
    assert s.environments() == ("prod", "staging") and s.alias_for("staging") == "challenger"
    assert MlflowSettings(tracking_uri="http://h").environments() == ()


def test_the_account_table_builds_an_mlflow_connector(tmp_path: Path) -> None:
    ws = Workspace(write_workspace(tmp_path, {"reg": {"environment": "dev", "tracking_uri": "http://127.0.0.1:9",
                                                      "insecure_tls": True, "alias_environments": {"champion": "prod"}}}))
    from governance.sources import connector_for

    conn = connector_for(ws, load_settings(ws), "reg")
    assert isinstance(conn, MlflowConnector) and conn.settings.insecure_tls
    assert conn.settings.alias_environments == {"champion": "prod"}
    (tmp_path / "countersign.toml").write_text('[[accounts]]\nname = "x"\nenvironment = "dev"\nconnector = "mlflow"\n')
    with pytest.raises(ConfigError, match="tracking_uri"):
        load_settings(ws)


# -- extract ---------------------------------------------------------------------------------------------------------


def test_a_500_version_model_is_read_across_pages(servers, tmp_path: Path) -> None:
    a, _ = servers
    model = a.create_model(unique("big"), description="many versions")
    first = a.add_version(model, metrics={"auc": 0.7})
    for _ in range(499):  # the same model directory registered again: what matters is the listing
        a.post("model-versions/create", {"name": model, "source": first.source, "run_id": first.run_id})
    conn = connector(a.server.url, tmp_path)
    before = conn.tracking.meter.calls
    snap = conn.extract(None)
    got = mine(snap, model)
    assert [v.version for v in got] == list(range(1, 501))
    assert all(v.metrics == {"auc": 0.7} and v.run_ref == f"run/{first.run_id}" for v in got)
    # 500 versions at 200 a page: at least three listing calls; one batch for the single run behind them
    assert conn.tracking.meter.calls - before >= 3 + 1 and snap.complete
    again = conn.extract(snap.watermark)
    assert mine(again, model) == [] and not again.complete


def test_versions_carry_run_data_aliases_and_environments(servers, tmp_path: Path) -> None:
    a, _ = servers
    model = a.create_model(unique("credit"), description="PD model", tags={"countersign.owner": "risk-ml"})
    v1 = a.add_version(model, metrics={"auc": 0.8, "ks": 0.4}, params={"max_depth": "4"},
                       dataset_uri="mlflow-artifacts:/data/train.parquet")
    v2 = a.add_version(model, tags={"team": "risk"})
    a.change_version(model, v1.version, approval="Approved", alias="champion")
    a.set_alias(model, "challenger", v2.version)
    conn = connector(a.server.url, tmp_path, alias_environments={"champion": "prod", "challenger": "staging"})
    snap = conn.extract(None)
    one, two = mine(snap, model)
    assert one.source_ref == version_ref(model, 1) and one.approval_status == "Approved"
    assert one.labels == ("champion",) and one.environment == "prod"
    assert two.labels == ("challenger",) and two.environment == "staging" and two.approval_status == "PendingManualApproval"
    assert one.metrics == {"auc": 0.8, "ks": 0.4} and one.artifact_uri == v1.source
    assert one.data_uris == {"reference": "mlflow-artifacts:/data/train.parquet"}
    run = next(r for r in snap.runs if r.run_ref == one.run_ref)
    assert run.params == {"max_depth": "4"} and run.inputs == {"training": "mlflow-artifacts:/data/train.parquet"}
    assert two.metadata == {"team": "risk"}
    m = next(m for m in snap.models if m.name == model)
    assert m.owner == "risk-ml" and m.description == "PD model"


def champion_model(a: MlflowDriver, tmp_path: Path, prefix: str, versions: int):
    """A model of ``versions`` versions, the alias ``champion`` (environment prod) on version 1, and its first
    extract: (model, connector, snapshot)."""
    model = a.create_model(unique(prefix))
    for _ in range(versions):
        a.add_version(model)
    a.set_alias(model, "champion", 1)
    conn = connector(a.server.url, tmp_path, alias_environments={"champion": "prod"})
    return model, conn, conn.extract(None)


def test_alias_moves_show_up_in_the_next_incremental_sync(servers, tmp_path: Path) -> None:
    a, _ = servers
    model, conn, first = champion_model(a, tmp_path, "alias", 3)
    assert [v.labels for v in mine(first, model)] == [("champion",), (), ()]
    quiet = conn.extract(first.watermark)
    assert mine(quiet, model) == []  # nothing changed: nothing re-read

    a.set_alias(model, "champion", 3)  # moving an alias changes no timestamp in MLflow
    moved = conn.extract(quiet.watermark)
    assert [(v.version, v.labels, v.environment) for v in mine(moved, model)] == [(1, (), None),
                                                                                   (3, ("champion",), "prod")]
    a.delete_alias(model, "champion")
    dropped = conn.extract(moved.watermark)
    assert [(v.version, v.labels) for v in mine(dropped, model)] == [(3, ())]


def test_a_prefetched_listing_stands_in_for_the_calls_and_misses_no_alias_move(servers, tmp_path: Path) -> None:
    a, _ = servers
    model, conn, first = champion_model(a, tmp_path, "early", 2)

    conn.prefetch()  # what governance.sync does before it opens the catalog
    time.sleep(0.5)  # the answers arrive meanwhile
    before = conn.tracking.meter.calls
    quiet = conn.extract(first.watermark)
    assert conn.tracking.meter.calls == before  # extract used the prefetched model listing and version page
    assert quiet.calls == 2 and mine(quiet, model) == []

    conn.prefetch()
    time.sleep(0.5)
    a.set_alias(model, "champion", 2)  # after the listing was read: this extract cannot see it ...
    stale = conn.extract(quiet.watermark)
    assert mine(stale, model) == []
    moved = conn.extract(stale.watermark)  # ... and the next one does, since the watermark holds what was read
    assert [(v.version, v.labels, v.environment) for v in mine(moved, model)] == [(1, (), None),
                                                                                   (2, ("champion",), "prod")]


def test_an_old_or_unsuited_prefetch_is_not_used(servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import connectors.mlflow.extract as mlflow_connector

    a, _ = servers
    model = a.create_model(unique("late"))
    a.add_version(model)
    conn = connector(a.server.url, tmp_path)
    first = conn.extract(None)

    monkeypatch.setattr(mlflow_connector, "PREFETCH_TTL", 0.0)
    conn.prefetch()
    time.sleep(0.3)
    a.add_version(model)
    before = conn.tracking.meter.calls
    fresh = conn.extract(first.watermark)  # too old to stand in: extract asks again and sees the new version
    assert [v.version for v in mine(fresh, model)] == [2]
    assert conn.tracking.meter.calls - before == fresh.calls  # every call it counts, it made itself

    monkeypatch.setattr(mlflow_connector, "PREFETCH_TTL", 30.0)
    plain = conn.extract(None)
    conn.prefetch()  # an incremental page first ...
    time.sleep(0.3)
    before = conn.tracking.meter.calls
    full = conn.extract(fresh.watermark, full=True)  # ... but a full pass lists oldest first: not that page
    assert [v.version for v in mine(full, model)] == [1, 2] and full.complete
    # the model listing stood in for one call; the unused page is counted too (the server answered it)
    assert conn.tracking.meter.calls - before == plain.calls - 1 and full.calls == plain.calls + 1


def test_sync_prefetches_every_account_before_it_opens_the_catalog(servers, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = servers
    a.add_version(a.create_model(unique("pf")))
    ws, catalog = make_ws(tmp_path, {"alpha": {"environment": "dev", **a.settings()},
                                     "beta": {"environment": "prod", **b.settings()}})
    assert run_sync(ws, catalog).ok
    seen: list[tuple[str, bool, bool]] = []
    real_prefetch, real_upsert = MlflowConnector.prefetch, Catalog.upsert_accounts
    opened = []

    def prefetch(self, *, full: bool = False) -> None:
        seen.append((self.account_name, full, bool(opened)))
        real_prefetch(self, full=full)

    def upsert_accounts(self, accounts):
        opened.append(True)
        return real_upsert(self, accounts)

    monkeypatch.setattr(MlflowConnector, "prefetch", prefetch)
    monkeypatch.setattr(Catalog, "upsert_accounts", upsert_accounts)
    report = run_sync(ws, catalog)
    assert report.ok and sorted(seen) == [("alpha", False, False), ("beta", False, False)]
    assert [r.calls for r in report.results] == [2, 2]  # a no-change re-sync: the two prefetched calls per server


def test_a_prefetch_that_cannot_start_costs_the_sync_nothing(servers, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = servers
    model = a.create_model(unique("nopf"))
    a.add_version(model)
    ws, catalog = make_ws(tmp_path, {"alpha": {"environment": "dev", **a.settings()}})

    def broken(self, *, full: bool = False) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(MlflowConnector, "prefetch", broken)
    report = run_sync(ws, catalog)
    assert report.results[0].error is None and sorted(catalog_versions(catalog, "alpha", model)) == [1]


def test_a_deleted_version_leaves_the_catalog_on_a_full_sync(servers, tmp_path: Path) -> None:
    a, _ = servers
    model = a.create_model(unique("gone"))
    for _ in range(3):
        a.add_version(model)
    ws, catalog = make_ws(tmp_path, {"reg": {"environment": "dev", **a.settings()}})
    assert run_sync(ws, catalog).ok
    assert sorted(catalog_versions(catalog, "reg", model)) == [1, 2, 3]
    a.delete_version(model, 2)
    run_sync(ws, catalog)  # incremental: a listing since the watermark cannot tell a deletion
    assert sorted(catalog_versions(catalog, "reg", model)) == [1, 2, 3]
    report = run_sync(ws, catalog, full=True)
    assert report.ok and report.results[0].counts.deleted >= 1
    assert sorted(catalog_versions(catalog, "reg", model)) == [1, 3]


def test_a_corrupt_version_is_an_issue_and_the_rest_syncs(servers, tmp_path: Path) -> None:
    a, _ = servers
    model = a.create_model(unique("corrupt"))
    for _ in range(2):
        a.add_version(model)
    ws, catalog = make_ws(tmp_path, {"reg": {"environment": "dev", **a.settings()}})
    run_sync(ws, catalog)
    a.corrupt(model, 1)
    a.change_version(model, 2, approval="Rejected", description="touched")
    result = run_sync(ws, catalog, full=True).results[0]
    assert result.status == "partial"
    assert any(version_ref(model, 1) in i and "maybe-later" in i for i in result.issues)
    rows = catalog_versions(catalog, "reg", model)
    assert sorted(rows) == [1, 2]  # the corrupt one keeps its previous row; it is not deleted
    assert rows[1]["approval_status"] == "PendingManualApproval" and rows[2]["approval_status"] == "Rejected"


def test_an_accented_model_name_syncs_and_fetches(servers, tmp_path: Path) -> None:
    a, _ = servers
    model = a.create_model(unique("Modèle de crédit – é"))
    v = a.add_version(model, artifact=b"skops-bytes")
    ws, catalog = make_ws(tmp_path, {"reg": {"environment": "dev", **a.settings()}})
    assert run_sync(ws, catalog).ok
    row = catalog_versions(catalog, "reg", model)[1]
    assert row["source_ref"] == f"models:/{model}/1"
    conn = connector(a.server.url, tmp_path)
    assert conn.fetch(v.source).read_bytes() == b"skops-bytes"
    assert conn.fetch(f"models:/{model}/1").read_bytes() == b"skops-bytes"


def test_one_server_down_while_another_syncs(servers, tmp_path: Path) -> None:
    a, b = servers
    model_a, model_b = a.create_model(unique("up")), b.create_model(unique("down"))
    a.add_version(model_a)
    b.add_version(model_b)
    proxy = Proxy(b.server.url).start()
    ws, catalog = make_ws(tmp_path, {"alpha": {"environment": "dev", **a.settings()},
                                     "beta": {"environment": "prod", "tracking_uri": proxy.url}})
    assert run_sync(ws, catalog).ok
    proxy.stop()  # beta's address now refuses connections
    a.add_version(model_a)
    report = run_sync(ws, catalog)
    by = {r.account: r for r in report.results}
    # alpha may report other tests' corrupt versions on the shared server (partial), but it is not failed
    assert by["alpha"].error is None and by["alpha"].status in ("ok", "partial") and by["beta"].status == "failed"
    assert "cannot reach the MLflow server" in by["beta"].error and proxy.url in by["beta"].error
    assert sorted(catalog_versions(catalog, "alpha", model_a)) == [1, 2]
    assert sorted(catalog_versions(catalog, "beta", model_b)) == [1]  # the last good state stays
    failed = catalog.query_df("SELECT status, error FROM sync_runs WHERE account = 'beta' ORDER BY started_at")
    assert list(failed["status"]) == ["ok", "failed"]


def test_a_401_says_which_variables_to_set(mlflow_auth_server, tmp_path: Path) -> None:
    url = mlflow_auth_server.url
    with pytest.raises(ConnectorError, match=r"refused no credentials .*MLFLOW_TRACKING_TOKEN.*HTTP 401"):
        connector(url, tmp_path).extract(None)
    wrong = {"MLFLOW_PROD_USER": "admin", "MLFLOW_PROD_PASSWORD": "nope"}
    with pytest.raises(ConnectorError, match="refused the credentials from MLFLOW_PROD_USER/MLFLOW_PROD_PASSWORD"):
        connector(url, tmp_path, username_env="MLFLOW_PROD_USER", password_env="MLFLOW_PROD_PASSWORD",
                  environ=wrong).extract(None)
    right = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": mlflow_auth_server.basic_auth_password}
    driver = MlflowDriver(mlflow_auth_server, auth=("admin", mlflow_auth_server.basic_auth_password))
    model = driver.create_model(unique("secured"))
    driver.add_version(model)
    snap = connector(url, tmp_path, environ=right).extract(None)
    assert [v.version for v in mine(snap, model)] == [1]


# -- fetch -----------------------------------------------------------------------------------------------------------


def test_fetch_follows_the_loading_rules_and_stays_inside_the_account(servers, tmp_path: Path) -> None:
    from governance.analytics.artifacts import load_model

    a, b = servers
    model = a.create_model(unique("fetch"))
    pickled = a.add_version(model, pickle=True, artifact=b"\x80\x04\x95 not really a pickle")
    conn = connector(a.server.url, tmp_path)
    path = conn.fetch(f"runs:/{pickled.run_id}/model")
    assert path.read_bytes().startswith(b"\x80\x04") and path.parent.parent.name == "sha256"
    with pytest.raises(UnsafeArtifact, match="pickle"):
        load_model(path)
    other = urlsplit_netloc(b.server.url)
    for uri in ("s3://bucket/model.skops", "file:///etc/passwd", f"mlflow-artifacts://{other}/1/x/model.skops",
                "mlflow-artifacts:/../../etc/passwd", "https://example.com/model.skops"):
        with pytest.raises(InputError):
            conn.fetch(uri)


def test_a_second_fetch_reads_the_shared_cache_until_the_artifact_changes(servers, tmp_path: Path) -> None:
    """The content-addressed cache every connector kind writes into (connectors/cache.py): an artifact the proxy
    still serves unchanged is not downloaded again; new bytes at the same path are."""
    a, _ = servers
    model = a.create_model(unique("cached"))
    v = a.add_version(model, artifact=b"first-bytes")
    conn = connector(a.server.url, tmp_path)
    gets: list[str] = []
    request = conn.tracking.request

    def counted(method: str, url: str, **kw):  # a spy: the real request, counted
        if method == "GET" and "/mlflow-artifacts/artifacts/" in url and kw.get("stream_to"):
            gets.append(url)
        return request(method, url, **kw)

    conn.tracking.request = counted
    first = conn.fetch(v.source)
    assert first.read_bytes() == b"first-bytes" and len(gets) == 2  # MLmodel (which file), then the model file
    assert conn.fetch(v.source) == first and len(gets) == 2  # the same bytes: read from the cache
    again = connector(a.server.url, tmp_path)  # another connector on the same cache folder shares it
    assert again.fetch(v.source) == first
    a.upload(f"{v.source.removeprefix('mlflow-artifacts:/')}/model.skops", b"second-bytes, longer")
    changed = conn.fetch(v.source)
    assert changed.read_bytes() == b"second-bytes, longer" and gets[2:] == [gets[1]]  # only what changed


def urlsplit_netloc(url: str) -> str:
    return url.split("://", 1)[1]


# -- promotion -------------------------------------------------------------------------------------------------------


def test_approval_is_written_as_tags_and_seen_by_an_incremental_sync(servers, tmp_path: Path) -> None:
    a, _ = servers
    model = a.create_model(unique("approve"))
    a.add_version(model)
    conn = connector(a.server.url, tmp_path)
    first = conn.extract(None)
    v = mine(first, model)[0]
    after = conn.set_approval(v, "Approved", "Approved in Countersign request r-1 by risk.officer")
    assert after.approval_status == "Approved"
    tags = {t["key"]: t["value"] for t in a.version(model, 1)["tags"]}
    assert tags["countersign.approval"] == "Approved" and "r-1" in tags["countersign.approval_description"]
    seen = mine(conn.extract(first.watermark), model)
    assert [(x.version, x.approval_status) for x in seen] == [(1, "Approved")]
    with pytest.raises(InputError):
        conn.set_approval(v, "Sure", "x")


def test_same_server_promotion_moves_the_alias_and_records_the_request(servers, tmp_path: Path) -> None:
    a, _ = servers
    model = a.create_model(unique("alias-promo"))
    a.add_version(model)
    a.add_version(model)
    a.set_alias(model, "champion", 1)
    conn = connector(a.server.url, tmp_path, alias_environments={"champion": "prod", "challenger": "staging"})
    v2 = mine(conn.extract(None), model)[1]
    ref = PromotionRef("req-alias", "ab" * 32, "ml", v2.source_ref, ("risk.officer@example.com",))
    out = conn.register_copy(v2, conn, ref, environment="prod")
    again = conn.register_copy(v2, conn, ref, environment="prod")
    assert out.version == again.version == 2 and out.labels == ("champion",) and out.environment == "prod"
    assert a.get("registered-models/alias", name=model, alias="champion")["model_version"]["version"] == "2"
    tags = {t["key"]: t["value"] for t in a.version(model, 2)["tags"]}
    assert tags[TAG_REQUEST] == "req-alias" and tags["countersign.ledger_hash"] == "ab" * 32
    assert len(a.versions(model)) == 2  # no copy
    with pytest.raises(ConfigError, match="no alias means environment 'dev'"):
        conn.register_copy(v2, conn, ref, environment="dev")


def test_an_alias_never_moves_onto_bytes_swapped_after_approval(servers, tmp_path: Path) -> None:
    # serving loads models:/name@champion: moving the alias is the deployment, so the bytes it will point at are
    # read again before it moves, and other bytes than the approved ones are refused
    a, _ = servers
    model = a.create_model(unique("alias-swap"))
    seeded = a.add_version(model)
    conn = connector(a.server.url, tmp_path, alias_environments={"champion": "prod"})
    version = conn.read_version(model, 1)
    approved = version.artifact_sha256
    assert approved and version.artifact_digest_source == "countersign"
    folder = seeded.source.removeprefix("mlflow-artifacts:/")
    a.upload(f"{folder}/model.skops", b"another model, uploaded over the approved one")
    ref = PromotionRef("req-swap", "ab" * 32, "ml", version.source_ref, ("risk.officer@example.com",),
                       environment="prod", artifact_sha256=approved)
    with pytest.raises(ArtifactMismatch) as err:
        conn.register_copy(version, conn, ref)
    assert err.value.expected == approved and err.value.found == conn.artifact_digest(version, fresh=True).sha256
    assert "alias 'champion'" in str(err.value)
    assert not a.version(model, 1).get("aliases")  # the alias did not move
    assert TAG_REQUEST not in {t["key"] for t in a.version(model, 1).get("tags") or []}
    # approved for the bytes it holds now, it moves, and the version says which bytes
    current = conn.artifact_digest(version, fresh=True).sha256
    moved = conn.register_copy(version, conn, dataclasses.replace(ref, artifact_sha256=current))
    assert moved.labels == ("champion",) and moved.artifact_sha256 == current


PROMOTE_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from connectors.base import AccountInfo, PromotionRef
    from connectors.mlflow import MlflowConnector, MlflowSettings
    src_url, dst_url, model, cache, rid = sys.argv[1:6]
    def make(url, name, **keys):
        return MlflowConnector(MlflowSettings(tracking_uri=url, **keys), AccountInfo(name, "prod"),
                               root=Path(cache), cache_dir=Path(cache))
    src, dst = make(src_url, "staging"), make(dst_url, "prod", alias_environments={"champion": "prod"})
    record = src.read_version(model, 1)
    dst.register_copy(record, src, PromotionRef(rid, "cd" * 32, "staging", record.source_ref, ("officer",)))
""")


@pytest.mark.parametrize("moment", ["before", "after", "alias"])
def test_a_promotion_across_servers_killed_mid_way_resumes_to_one_version(servers, tmp_path: Path, moment: str) -> None:
    a, b = servers
    model = a.create_model(unique(f"promo-{moment}"))
    a.add_version(model, metrics={"auc": 0.83}, params={"max_depth": "5"}, artifact=b"the-model-bytes")
    a.change_version(model, 1, tags={"team": "risk"})
    rid = f"req-kill-{moment}"
    proxy = Proxy(b.server.url).start()
    # before: killed while the version create is on its way (artifacts copied, no version yet); after: the
    # server registered the version and the promoter died before it heard the answer; alias: the version is
    # there, the alias that makes models:/name@champion resolve to it not yet
    step = "registered-models/alias" if moment == "alias" else "model-versions/create"
    (proxy.hang_after if moment == "after" else proxy.hang_before)(step)
    child = subprocess.Popen([sys.executable, "-c", PROMOTE_SCRIPT, a.server.url, proxy.url, model, str(tmp_path), rid],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not any(step in s for s in proxy.seen) and child.poll() is None:
            assert time.monotonic() < deadline, "the promoter never reached the version create"
            time.sleep(0.1)
        if moment == "after":
            assert proxy.forwarded.wait(30)
        assert child.poll() is None, "the promoter should still be waiting"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        proxy.stop()
    assert len(b.versions(model)) == (0 if moment == "before" else 1)

    src = connector(a.server.url, tmp_path / "s", name="staging")
    dst = connector(b.server.url, tmp_path / "d", name="prod", environment="prod",
                    alias_environments={"champion": "prod"})
    record = src.read_version(model, 1)
    ref = PromotionRef(rid, "cd" * 32, "staging", record.source_ref, ("officer",))
    done = dst.register_copy(record, src, ref)
    again = dst.register_copy(record, src, ref)
    listed = b.versions(model)
    assert len(listed) == 1 and done.version == again.version == int(listed[0]["version"])
    assert done.labels == ("champion",) and done.environment == "prod"  # the retry finished the alias too
    tags = {t["key"]: t["value"] for t in listed[0]["tags"]}
    assert tags[TAG_REQUEST] == rid and tags["countersign.source_ref"] == record.source_ref
    assert tags["countersign.source_account"] == "staging" and tags["team"] == "risk"
    assert tags["countersign.approval"] == "Approved" and tags["countersign.ledger_hash"] == "cd" * 32
    assert done.source_version_ref == record.source_ref and done.metrics == {"auc": 0.83}
    assert dst.fetch(done.artifact_uri).read_bytes() == b"the-model-bytes"
    runs = b.post("runs/search", {"experiment_ids": [b.get("experiments/get-by-name",
                                  experiment_name="Countersign promotions")["experiment"]["experiment_id"]],
                                  "filter": f"tags.`countersign.request_id` = '{rid}'"}).get("runs") or []
    mine_runs = [r for r in runs if any(t["value"] == record.source_ref for t in r["data"].get("tags", []))]
    assert len(mine_runs) == 1  # the copy's run was found again, not created twice
