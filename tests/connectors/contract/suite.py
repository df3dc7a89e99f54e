"""The connector contract: what every connector kind must do, checked against its real source.

Test modules run it with ``from tests.connectors.contract.suite import *`` next to a ``driver`` fixture (see
``conftest.py``; ``test_throwaway_connector.py`` runs it for a kind registered inside the test).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import connectors
from connectors.base import (
    AccountInfo,
    ArtifactReader,
    Connector,
    Promoter,
    PromotionRef,
    Snapshot,
    VersionRecord,
)
from core import structs
from core.errors import ArtifactMismatch, ConfigError, ConnectorError, CountersignError
from core.hashing import sha256_file
from governance.catalog import Catalog
from governance.config import Settings, Workspace, load_settings
from governance.context import Context
from governance.identity import Identity
from governance.sync import AccountResult, sync
from tests.connectors.contract.driver import ENVIRONMENTS, SourceDriver

ADMIN = Identity("admin@example.com", frozenset({"admin"}))
SYNCED_TABLES = ("models", "model_sources", "versions", "runs", "deployments", "model_cards")


# -- helpers ----------------------------------------------------------------------------------------------


def connector(driver: SourceDriver, tmp_path: Path, account: str = "src") -> Connector:
    """The connector of ``account`` built the one way every caller builds it (registry, settings model)."""
    settings = structs.convert(driver.settings(account), connectors.settings_model(driver.kind))
    info = AccountInfo(account, ENVIRONMENTS[account], secrets=driver.environ())
    return connectors.build_connector(driver.kind, settings, info, root=tmp_path, cache_dir=tmp_path / "cache")


def toml_account(name: str, kind: str, settings: dict[str, Any]) -> str:
    body = {"name": name, "environment": ENVIRONMENTS[name], "connector": kind, **settings}
    return "[[accounts]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in body.items())


def workspace(driver: SourceDriver, tmp_path: Path, accounts: tuple[str, ...] = ("src",)) -> tuple[Workspace, Settings, Catalog]:
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    text = '[environments]\norder = ["dev", "prod"]\n\n' + "\n".join(
        toml_account(a, driver.kind, driver.settings(a)) for a in accounts)
    ws.config_path.write_text(text, encoding="utf-8")
    settings = load_settings(ws, environ=driver.environ())
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    return ws, settings, catalog


def sync_src(ws: Workspace, settings: Settings, catalog: Catalog, *, full: bool = False) -> AccountResult:
    result = sync(Context(ws, settings, catalog, ADMIN), accounts=["src"], full=full).results[0]
    assert result.status != "failed", result.error
    return result


def keys(snapshot: Snapshot) -> set[tuple[str, int]]:
    return {(v.model, v.version) for v in snapshot.versions}


def rows(catalog: Catalog) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with catalog.connect() as con:
        for table in SYNCED_TABLES:
            out[table] = sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    return out


def catalog_versions(catalog: Catalog) -> dict[str, str]:
    """version id -> approval status, of account ``src``."""
    with catalog.connect() as con:
        return dict(con.execute("SELECT version_id, approval_status FROM versions WHERE account = 'src'").fetchall())


def seed_two_models(driver: SourceDriver) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    driver.add_version("src", "churn")
    driver.create_model("src", "fraud")
    driver.add_version("src", "fraud")


def record(snapshot: Snapshot, model: str, version: int) -> VersionRecord:
    return next(v for v in snapshot.versions if (v.model, v.version) == (model, version))


# -- extraction ---------------------------------------------------------------------------------------------


def test_full_extract_yields_every_model_and_version(driver: SourceDriver, tmp_path: Path) -> None:
    seed_two_models(driver)
    snap = connector(driver, tmp_path).extract(None, full=True)
    assert keys(snap) == {("churn", 1), ("churn", 2), ("fraud", 1)}
    assert {"churn", "fraud"} <= {m.name for m in snap.models}
    assert snap.issues == () and snap.complete and snap.watermark
    for v in snap.versions:
        assert v.approval_status == "PendingManualApproval" and v.artifact_uri and v.source_ref, v


def test_incremental_extract_returns_only_what_changed(driver: SourceDriver, tmp_path: Path) -> None:
    seed_two_models(driver)
    conn = connector(driver, tmp_path)
    first = conn.extract(None, full=True)
    driver.change_version("src", "churn", 1)
    driver.add_version("src", "churn")
    second = conn.extract(first.watermark)
    assert keys(second) == {("churn", 1), ("churn", 3)}
    assert record(second, "churn", 1).approval_status == "Approved"
    assert conn.extract(second.watermark).versions == ()  # nothing changed since
    assert keys(conn.extract(second.watermark, full=True)) == {("churn", 1), ("churn", 2), ("churn", 3), ("fraud", 1)}


# -- through governance.sync into a real catalog ------------------------------------------------------------


def test_a_no_change_resync_writes_nothing(driver: SourceDriver, tmp_path: Path) -> None:
    seed_two_models(driver)
    ws, settings, catalog = workspace(driver, tmp_path)
    first = sync_src(ws, settings, catalog, full=True)
    # three versions (kinds that read the runs behind them add those rows too)
    assert first.status == "ok" and first.counts.by_table["versions"]["added"] == 3, first
    before = rows(catalog)
    for full in (False, True):
        again = sync_src(ws, settings, catalog, full=full)
        assert again.status == "ok", again
        assert (again.counts.added, again.counts.updated, again.counts.deleted) == (0, 0, 0), again.counts
        assert rows(catalog) == before, f"a {'full' if full else 'incremental'} resync changed catalog rows"


def test_a_version_deleted_at_the_source_is_deleted_from_the_catalog_by_a_full_sync(
    driver: SourceDriver, tmp_path: Path,
) -> None:
    seed_two_models(driver)
    ws, settings, catalog = workspace(driver, tmp_path)
    sync_src(ws, settings, catalog, full=True)
    driver.delete_version("src", "churn", 1)
    # an incremental sync cannot tell a deletion from an unlisted item: it keeps the row
    sync_src(ws, settings, catalog)
    assert "src:churn:1" in catalog_versions(catalog)
    full = sync_src(ws, settings, catalog, full=True)
    assert full.counts.by_table["versions"]["deleted"] == 1, full.counts
    assert set(catalog_versions(catalog)) == {"src:churn:2", "src:fraud:1"}


def test_per_item_problems_become_sync_issues_and_never_raise(driver: SourceDriver, tmp_path: Path) -> None:
    seed_two_models(driver)
    ws, settings, catalog = workspace(driver, tmp_path)
    sync_src(ws, settings, catalog, full=True)
    driver.corrupt_version("src", "churn", 1)
    snap = connector(driver, tmp_path).extract(None, full=True)  # does not raise
    assert snap.issues, "a damaged version must be reported"
    assert {("churn", 2), ("fraud", 1)} <= keys(snap)
    result = sync_src(ws, settings, catalog, full=True)
    assert result.status == "partial" and result.issues, result
    # bad input never deletes stored data: the damaged version stays in the catalog, the others too
    assert set(catalog_versions(catalog)) == {"src:churn:1", "src:churn:2", "src:fraud:1"}


# -- fetch --------------------------------------------------------------------------------------------------


def test_fetch_is_content_addressed(driver: SourceDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    conn = connector(driver, tmp_path)
    version = record(conn.extract(None, full=True), "churn", 1)
    path = conn.fetch(version.artifact_uri)
    assert path.read_bytes() == driver.artifact_bytes("src", "churn", 1)
    digest = sha256_file(path)
    assert path.is_relative_to(tmp_path / "cache") and path.name.startswith(digest), path
    artifact = driver.artifact_files("src", "churn", 1)
    assert version.artifact_sha256 == oracle_digest(artifact)
    if isinstance(artifact, bytes):  # a one-file artifact: its digest is the sha256 of the file fetch gives
        assert version.artifact_sha256 == digest
    assert conn.fetch(version.artifact_uri) == path  # fetched again: the same stored file


def test_fetch_refuses_uris_outside_its_root(driver: SourceDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    conn = connector(driver, tmp_path)
    for uri in driver.outside_uris("src"):
        with pytest.raises(CountersignError) as err:
            conn.fetch(uri)
        assert uri in str(err.value) or "not" in str(err.value), err.value
    stored = list((tmp_path / "cache").rglob("*")) if (tmp_path / "cache").exists() else []
    assert not [p for p in stored if p.is_file() and "sha256" in p.parts], stored


# -- artifact digests ---------------------------------------------------------------------------------------


def oracle_digest(artifact: bytes | dict[str, bytes]) -> str:
    """The digest docs/connectors.md defines, computed here independently of connectors.digests: a file's sha256;
    a directory's, the sha256 of the sorted lines ``path\\0sha256-of-the-file\\n``."""
    if isinstance(artifact, bytes):
        return hashlib.sha256(artifact).hexdigest()
    lines = sorted(f"{path}\0{hashlib.sha256(data).hexdigest()}\n" for path, data in artifact.items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_every_kind_reads_its_own_digest_of_a_versions_artifact(driver: SourceDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    driver.add_version("src", "churn")
    conn = connector(driver, tmp_path)
    assert isinstance(conn, ArtifactReader), f"{driver.kind} connectors must implement ArtifactReader"
    snap = conn.extract(None, full=True)
    assert snap.issues == ()
    digests = set()
    for n in (1, 2):
        v = record(snap, "churn", n)
        expected = oracle_digest(driver.artifact_files("src", "churn", n))
        assert (v.artifact_sha256, v.artifact_digest_source, v.artifact_digest_problem) == (
            expected, "countersign", None), v
        assert v.artifact_digest_at is not None
        again = conn.artifact_digest(v)  # remembered by the source's identity of the bytes
        assert (again.sha256, again.source, again.problem) == (expected, "countersign", None)
        assert again.identity and again.observed_at == v.artifact_digest_at, again
        digests.add(expected)
    assert len(digests) == 2


def test_a_fresh_digest_reads_the_bytes_again_after_they_changed(driver: SourceDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    conn = connector(driver, tmp_path)
    version = record(conn.extract(None, full=True), "churn", 1)
    before = conn.artifact_digest(version)
    driver.replace_artifact("src", "churn", 1, b"another model copied over the approved one")
    expected = oracle_digest(driver.artifact_files("src", "churn", 1))
    assert expected != before.sha256
    fresh = conn.artifact_digest(version, fresh=True)
    assert (fresh.sha256, fresh.source) == (expected, "countersign") and fresh.observed_at >= before.observed_at
    # the source's identity of the bytes changed with them: the remembered reading is not reused
    assert conn.artifact_digest(version).sha256 == expected
    assert record(connector(driver, tmp_path).extract(None, full=True), "churn", 1).artifact_sha256 == expected


def test_an_unreadable_artifact_is_a_stated_problem_and_the_rest_is_read(driver: SourceDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    driver.add_version("src", "churn")
    driver.remove_artifact("src", "churn", 1)
    conn = connector(driver, tmp_path)
    snap = conn.extract(None, full=True)  # does not raise
    gone, kept = record(snap, "churn", 1), record(snap, "churn", 2)
    assert gone.artifact_sha256 is None and gone.artifact_digest_source is None, gone
    assert gone.artifact_digest_problem and "\n" not in gone.artifact_digest_problem, gone
    assert kept.artifact_sha256 == oracle_digest(driver.artifact_files("src", "churn", 2))
    fresh = conn.artifact_digest(gone, fresh=True)
    assert fresh.sha256 is None and fresh.problem, fresh


def test_bytes_swapped_after_approval_are_history_and_promotion_refuses_them(
    driver: SourceDriver, tmp_path: Path,
) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    ws, settings, catalog = workspace(driver, tmp_path)
    sync_src(ws, settings, catalog, full=True)
    approved = catalog.version("src:churn:1").artifact_sha256
    assert approved == oracle_digest(driver.artifact_files("src", "churn", 1))
    source = connector(driver, tmp_path)
    version = record(source.extract(None, full=True), "churn", 1)

    driver.replace_artifact("src", "churn", 1, b"another model copied over the approved one")
    swapped = oracle_digest(driver.artifact_files("src", "churn", 1))
    assert source.artifact_digest(version, fresh=True).sha256 == swapped
    sync_src(ws, settings, catalog, full=True)  # the next full pass records the change
    now = catalog.version("src:churn:1")
    assert (now.artifact_sha256, now.artifact_digest_source) == (swapped, "countersign")
    with catalog.connect() as con:
        history = con.execute("SELECT artifact_sha256, valid_to IS NULL FROM version_history "
                              "WHERE version_id = 'src:churn:1' ORDER BY valid_from, history_id").fetchall()
    assert history == [(approved, False), (swapped, True)], history  # the approved digest stays in the history

    target = promoter(driver, tmp_path, "dst")
    ref = PromotionRef("PR-20260503-swap01", "h" * 64, "src", version.source_ref, ("risk.officer@example.com",),
                       artifact_sha256=approved)
    with pytest.raises(ArtifactMismatch) as err:
        target.register_copy(version, source, ref)
    assert (err.value.expected, err.value.found) == (approved, swapped), err.value
    assert approved[:12] in str(err.value) and swapped[:12] in str(err.value)
    assert not [v for v in target.extract(None, full=True).versions if v.model == "churn"]  # nothing registered


# -- settings -----------------------------------------------------------------------------------------------


def test_bad_settings_name_the_file_the_account_and_the_key(driver: SourceDriver, tmp_path: Path) -> None:
    for bad, key in driver.bad_settings():
        ws = Workspace(tmp_path / "bad")
        ws.ensure_dirs()
        ws.config_path.write_text('[environments]\norder = ["dev", "prod"]\n\n' + toml_account("src", driver.kind, bad))
        with pytest.raises(ConfigError) as err:
            load_settings(ws)
        message = str(err.value)
        assert message.startswith(str(ws.config_path)), message
        assert f"accounts[0].{key}:" in message and "'src'" in message, message
        # built directly (a test, a script): the same model refuses it, naming the account and the key
        with pytest.raises(ConfigError, match=rf"account 'src': {key}"):
            connectors.build_connector(driver.kind, bad, AccountInfo("src", "dev"), root=tmp_path,
                                       cache_dir=tmp_path / "cache")


PLANTED_SECRET = "s3cret-Planted-42"


def test_a_url_carrying_a_credential_is_refused_naming_the_key_to_use(driver: SourceDriver, tmp_path: Path) -> None:
    """One URL-credential rule for every kind (issue 34, finding 3): a URL with ``user:password@`` in any setting is
    refused when countersign.toml is read, naming the setting and where credentials go instead, never repeating
    the secret; a kind whose settings hold no URL refuses one put into any of its text settings all the same."""
    from urllib.parse import urlsplit, urlunsplit

    good = driver.settings("src")
    urls = {k: v for k, v in good.items() if isinstance(v, str) and "://" in v}
    targets = urls or {k: "https://registry.example/models" for k, v in good.items() if isinstance(v, str)}
    assert targets, f"{driver.kind}: no text setting to put a URL in"
    hint = connectors.settings_model(driver.kind).credential_hint()
    for key, url in targets.items():
        parts = urlsplit(url)
        for netloc in (f"svc:{PLANTED_SECRET}@{parts.netloc}", f"{PLANTED_SECRET}@{parts.netloc}"):
            bad = {**good, key: urlunsplit(parts._replace(netloc=netloc))}
            ws = Workspace(tmp_path / "creds")
            ws.ensure_dirs()
            ws.config_path.write_text('[environments]\norder = ["dev", "prod"]\n\n' + toml_account("src", driver.kind, bad))
            with pytest.raises(ConfigError) as err:
                load_settings(ws, environ=driver.environ())
            message = str(err.value)
            assert f"accounts[0].{key}: the URL carries a " in message and hint in message, message
            assert "credentials never go into countersign.toml" in message and PLANTED_SECRET not in message, message
            assert "\n" not in message
            with pytest.raises(ConfigError) as err:  # built directly, the same model refuses it
                connectors.build_connector(driver.kind, bad, AccountInfo("src", "dev"), root=tmp_path,
                                           cache_dir=tmp_path / "cache")
            assert PLANTED_SECRET not in str(err.value)
    # the hint names a real key of the kind (its *_env settings), or says the kind's client finds them itself
    env_keys = [k for k in structs.field_names(connectors.settings_model(driver.kind)) if k.endswith("_env")]
    assert all(k in hint for k in env_keys) and (env_keys or "own client" in hint)


# -- promotion (kinds whose connector is a Promoter) ---------------------------------------------------------


def promoter(driver: SourceDriver, tmp_path: Path, account: str) -> Any:
    conn = connector(driver, tmp_path, account)
    if not isinstance(conn, Promoter):
        pytest.skip(f"{driver.kind} connectors do not promote")
    return conn


def test_set_approval_is_idempotent_and_reads_back(driver: SourceDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    conn = promoter(driver, tmp_path, "src")
    version = record(conn.extract(None, full=True), "churn", 1)
    first = conn.set_approval(version, "Approved", "request PR-1 approved")
    again = conn.set_approval(first, "Approved", "request PR-1 approved")
    assert (first.approval_status, first.approval_description) == ("Approved", "request PR-1 approved")
    assert (again.approval_status, again.approval_description) == ("Approved", "request PR-1 approved")
    reread = record(conn.extract(None, full=True), "churn", 1)
    assert (reread.approval_status, reread.approval_description) == ("Approved", "request PR-1 approved")


class FlakySource:
    """The source connector, whose first ``fetch`` fails (a connection dropped mid-promotion)."""

    def __init__(self, inner: Connector) -> None:
        self.inner, self.kind, self.failures = inner, inner.kind, 1

    def extract(self, *args: Any, **kwargs: Any) -> Snapshot:
        return self.inner.extract(*args, **kwargs)

    def fetch(self, uri: str) -> Path:
        if self.failures:
            self.failures -= 1
            raise ConnectorError(f"injected: connection reset while reading {uri}")
        return self.inner.fetch(uri)


def test_register_copy_is_idempotent_by_request_id_and_resumable(driver: SourceDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    source = promoter(driver, tmp_path, "src")
    target = promoter(driver, tmp_path, "dst")
    version = record(source.extract(None, full=True), "churn", 1)
    ref = PromotionRef("PR-20260501-abc123", "h" * 64, "src", version.source_ref, ("risk.officer@example.com",),
                       artifact_sha256=version.artifact_sha256)

    if driver.copies_artifacts:  # a failure while copying the artifact leaves nothing behind
        with pytest.raises(ConnectorError, match="injected"):
            target.register_copy(version, FlakySource(source), ref)
        assert not [v for v in target.extract(None, full=True).versions if v.model == "churn"]
    copy = target.register_copy(version, source, ref)  # the retry completes
    again = target.register_copy(version, source, ref)  # and a retry after success finds the same copy
    assert again.source_ref == copy.source_ref
    copies = [v for v in target.extract(None, full=True).versions if v.model == "churn"]
    assert [v.source_ref for v in copies] == [copy.source_ref]
    assert (copies[0].source_account, copies[0].source_version_ref) == ("src", version.source_ref)
    assert copies[0].approval_status == "Approved"
    assert target.fetch(copies[0].artifact_uri).read_bytes() == driver.artifact_bytes("src", "churn", 1)
    # the copy carries this account's own reading of its bytes: the approved digest
    assert (copy.artifact_sha256, copy.artifact_digest_source) == (version.artifact_sha256, "countersign"), copy
    assert copies[0].artifact_sha256 == version.artifact_sha256

    other = target.register_copy(version, source, PromotionRef("PR-20260502-def456", None, "src", version.source_ref))
    assert other.source_ref != copy.source_ref  # another request is another registration


# what ``from ... suite import *`` brings into a test module: the contract tests, nothing else
__all__ = sorted(name for name in list(globals()) if name.startswith("test_"))
