"""The folder registry connector: good, corrupt and partial registries; safe URIs; idempotent promotion."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from connectors.base import AccountInfo, PromotionRef, VersionRecord
from connectors.folder import FolderConnector, FolderSettings
from core.errors import ArtifactMismatch, ConnectorError, InputError, NotFound
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import Identity
from governance.sync import sync

ADMIN = Identity("admin@x", frozenset({"admin"}))


def connector(path: Path, name: str = "acc") -> FolderConnector:
    return FolderConnector(FolderSettings(path=str(path)), AccountInfo(name, "dev"),
                           root=path.parent, cache_dir=path.parent / "cache")


def make_version(base: Path, model: str, n: int, **meta) -> Path:
    vdir = base / model / str(n)
    vdir.mkdir(parents=True)
    (vdir / "model.skops").write_bytes(b"not really a model")
    (vdir / "reference.parquet").write_bytes(b"PAR1")
    body = {"approval_status": "Approved", "created_at": "2026-05-01T10:00:00Z", "created_by": "ds@x",
            "metrics": {"auc": 0.8}, **meta}
    (vdir / "metadata.json").write_text(json.dumps(body))
    return vdir


def test_good_registry_yields_every_version(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    make_version(base, "fraud", 1)
    make_version(base, "fraud", 2, approval_status="PendingManualApproval",
                 run={"name": "train-2", "params": {"depth": 3}, "metrics": {"auc": 0.81}})
    (base / "fraud" / "model.json").write_text(json.dumps({"owner": "team@x", "risk_tier": "high"}))
    (base / "deployments.json").write_text(json.dumps([{"endpoint": "ep", "model": "fraud", "version": 2}]))
    snap = connector(base).extract(None)
    assert [(v.model, v.version, v.approval_status) for v in snap.versions] == [
        ("fraud", 1, "Approved"), ("fraud", 2, "PendingManualApproval")]
    assert snap.issues == ()
    v2 = snap.versions[1]
    assert v2.data_uris == {"reference": "folder://acc/fraud/2/reference.parquet"}
    assert v2.run_ref == "run/train-2" and snap.runs[0].params == {"depth": "3"}
    assert snap.models[0].owner == "team@x"
    assert snap.deployments[0].version_ref == "fraud/2"
    assert len(v2.artifact_sha256) == 64


def dev_and_prod(tmp_path: Path) -> tuple[Path, FolderConnector, FolderConnector, VersionRecord]:
    """Two registries, dev holding fraud version 1 and prod empty: prod's folder, both connectors, the version."""
    src_base, dst_base = tmp_path / "dev", tmp_path / "prod"
    make_version(src_base, "fraud", 1)
    dst_base.mkdir()
    src, dst = connector(src_base, "dev"), connector(dst_base, "prod")
    (source,) = src.extract(None).versions
    return dst_base, src, dst, source


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda v: (v / "metadata.json").write_text("{not json"), "metadata.json is not valid JSON"),
        (lambda v: (v / "metadata.json").unlink(), "metadata.json is missing (partial version folder)"),
        (lambda v: (v / "metadata.json").write_text(json.dumps({"approval_status": "Maybe", "created_at": "2026-01-01"})),
         "approval_status 'Maybe' is not one of"),
        (lambda v: (v / "metadata.json").write_text(json.dumps({"approval_status": "Approved"})),
         "metadata.json lacks created_at"),
        (lambda v: (v / "metadata.json").write_bytes(b'{"a": "\xff"}'), "not UTF-8"),
        (lambda v: (v / "metadata.json").write_text(json.dumps({"approval_status": "Approved", "created_at": "yesterday"})),
         "created_at is not an ISO date-time"),
    ],
    ids=["corrupt-json", "partial", "bad-status", "missing-key", "not-utf8", "bad-date"],
)
def test_a_broken_version_is_reported_and_skipped_the_rest_syncs(tmp_path: Path, damage, message: str) -> None:
    base = tmp_path / "reg"
    make_version(base, "fraud", 1)
    damage(make_version(base, "fraud", 2))
    snap = connector(base).extract(None)
    assert [v.version for v in snap.versions] == [1]
    assert len(snap.issues) == 1 and snap.issues[0].ref == "fraud/2"
    assert message in snap.issues[0].message


def test_a_missing_registry_folder_is_a_connector_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="does not exist"):
        connector(tmp_path / "absent").extract(None)


@pytest.mark.parametrize("uri", ["folder://acc/../secret.txt", "folder://other/fraud/1/model.skops", "/etc/passwd",
                                 "folder://acc/fraud/1/../../../secret.txt"])
def test_fetch_refuses_paths_outside_the_registry(tmp_path: Path, uri: str) -> None:
    base = tmp_path / "reg"
    make_version(base, "fraud", 1)
    (tmp_path / "secret.txt").write_text("s")
    with pytest.raises(InputError):
        connector(base).fetch(uri)


def test_fetch_of_a_missing_file_is_not_found(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    make_version(base, "fraud", 1)
    with pytest.raises(NotFound):
        connector(base).fetch("folder://acc/fraud/1/current.parquet")
    assert connector(base).fetch("folder://acc/fraud/1/model.skops").read_bytes() == b"not really a model"


def test_sync_records_issues_without_losing_good_versions(demo_copy: Workspace) -> None:
    settings = load_settings(demo_copy)
    cat = Catalog(demo_copy.catalog_path)
    before = cat.counts()["versions"]
    (demo_copy.root / "registry" / "dev" / "claims-fraud" / "3" / "metadata.json").write_text("{broken")
    report = sync(Context(demo_copy, settings, cat, ADMIN), accounts=["lab-dev"])
    (result,) = report.results
    assert result.status == "partial"
    assert any("claims-fraud/3" in i and "not valid JSON" in i for i in result.issues)
    # the corrupt version keeps its previously synced record: bad input loses nothing already stored
    assert cat.counts()["versions"] == before
    assert cat.version("lab-dev:claims-fraud:3").approval_status == "Approved"


def test_promotion_copies_once_per_request_even_after_a_crash(tmp_path: Path) -> None:
    dst_base, src, dst, source = dev_and_prod(tmp_path)
    ref = PromotionRef(request_id="req-1", ledger_hash="abc", source_account="dev", source_ref=source.source_ref,
                       approved_by=("ro@x",))
    # a crash mid-copy leaves a hidden staging folder; a retry cleans it up and finishes
    (dst_base / "fraud" / ".promote-req-1").mkdir(parents=True)
    (dst_base / "fraud" / ".promote-req-1" / "junk").write_text("half-copied")
    first = dst.register_copy(source, src, ref)
    again = dst.register_copy(source, src, ref)
    assert first.version == again.version == 1
    assert [v.version for v in dst.extract(None).versions] == [1]
    assert first.source_account == "dev" and first.source_version_ref == "fraud/1"
    assert first.approval_status == "Approved" and first.artifact_sha256 == source.artifact_sha256
    other = dst.register_copy(source, src, PromotionRef("req-2", None, "dev", source.source_ref))
    assert other.version == 2
    assert not (dst_base / "fraud" / ".promote-req-1").exists()


def test_set_approval_writes_back_and_rereads(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    make_version(base, "fraud", 1, approval_status="PendingManualApproval")
    con = connector(base)
    (v,) = con.extract(None).versions
    updated = con.set_approval(v, "Approved", "approved by req-9")
    assert updated.approval_status == "Approved"
    assert updated.approval_description == "approved by req-9"
    assert con.extract(None).versions[0].approval_status == "Approved"
    with pytest.raises(InputError):
        con.set_approval(v, "Sure", "x")


def test_empty_registry_is_fine(tmp_path: Path) -> None:
    (tmp_path / "reg").mkdir()
    snap = connector(tmp_path / "reg").extract(None)
    assert snap.versions == () and snap.issues == ()
    shutil.rmtree(tmp_path / "reg")


# -- artifact digests --------------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_version_without_its_artifact_is_kept_and_says_why(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    make_version(base, "fraud", 1)
    (make_version(base, "fraud", 2) / "model.skops").unlink()
    snap = connector(base).extract(None)
    v1, v2 = snap.versions
    assert v1.artifact_sha256 == sha(b"not really a model") and v1.artifact_digest_source == "countersign"
    assert (v2.artifact_sha256, v2.artifact_digest_source) == (None, None)
    assert v2.artifact_digest_problem == "artifact model.skops is missing"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_an_artifact_path_out_of_the_registry_is_refused_at_sync(tmp_path: Path, how: str) -> None:
    base = tmp_path / "reg"
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:$6$secret-hash:19000:0:99999:7:::\n")
    make_version(base, "fraud", 1)
    vdir = make_version(base, "fraud", 2)
    meta = json.loads((vdir / "metadata.json").read_text())
    if how == "symlink":
        (vdir / "model.skops").unlink()
        (vdir / "model.skops").symlink_to(secret)
    else:
        meta["artifact"] = str(secret) if how == "absolute" else "../../../shadow"
    (vdir / "metadata.json").write_text(json.dumps(meta))
    conn = connector(base)
    snap = conn.extract(None)
    v1, v2 = snap.versions
    assert v1.artifact_sha256 == sha(b"not really a model")
    assert v2.artifact_sha256 is None and v2.artifact_uri is None, v2
    assert "refused" in (v2.artifact_digest_problem or "") and "outside" in v2.artifact_digest_problem, v2
    assert [(i.ref, "refused" in i.message) for i in snap.issues] == [("fraud/2", True)], snap.issues
    # the secret was not read: its digest is nowhere, neither in the records nor in the digest index
    assert sha(secret.read_bytes()) not in repr(snap)
    index = tmp_path / "cache" / "digests"
    assert not index.exists() or sha(secret.read_bytes()) not in "".join(p.read_text() for p in index.iterdir())


def test_a_copy_over_the_artifact_keeping_size_and_times_is_still_seen(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    vdir = make_version(base, "fraud", 1)
    conn = connector(base)
    (v,) = conn.extract(None).versions
    st = (vdir / "model.skops").stat()
    other = tmp_path / "other.skops"
    other.write_bytes(b"not really a modem")  # the same length
    shutil.copyfile(other, vdir / "model.skops")
    os.utime(vdir / "model.skops", ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time
    assert conn.artifact_digest(v).sha256 == sha(b"not really a modem")  # the change time gave it away
    (again,) = conn.extract(None).versions
    assert again.artifact_sha256 == sha(b"not really a modem")


def test_a_digest_the_registry_records_is_kept_only_when_the_bytes_cannot_be_read(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    make_version(base, "fraud", 1, artifact_sha256="0" * 64)  # disagrees with the bytes
    vdir = make_version(base, "fraud", 2, artifact_sha256="a" * 64)
    (vdir / "model.skops").unlink()
    snap = connector(base).extract(None)
    v1, v2 = snap.versions
    assert (v1.artifact_sha256, v1.artifact_digest_source) == (sha(b"not really a model"), "countersign")
    assert [i.ref for i in snap.issues] == ["fraud/1"] and "000000000000" in snap.issues[0].message
    assert (v2.artifact_sha256, v2.artifact_digest_source) == ("a" * 64, "registry")
    assert v2.artifact_digest_problem == "artifact model.skops is missing"


def test_promotion_refuses_bytes_swapped_after_approval_and_registers_nothing(tmp_path: Path) -> None:
    dst_base, src, dst, source = dev_and_prod(tmp_path)
    vdir = tmp_path / "dev" / "fraud" / "1"
    approved = source.artifact_sha256
    (tmp_path / "other.skops").write_bytes(b"another model entirely")
    shutil.copyfile(tmp_path / "other.skops", vdir / "model.skops")  # after the approval, before execution
    ref = PromotionRef("req-1", "abc", "dev", source.source_ref, ("ro@x",), artifact_sha256=approved)
    with pytest.raises(ArtifactMismatch) as err:
        dst.register_copy(source, src, ref)
    assert (err.value.expected, err.value.found) == (approved, sha(b"another model entirely"))
    assert "the source artifact folder://dev/fraud/1/model.skops" in str(err.value)
    assert dst.extract(None).versions == ()
    assert not [p for p in (dst_base / "fraud").iterdir()], "no staging folder, no version folder is left"


def test_a_copy_records_its_digest_and_a_later_swap_in_the_target_is_an_issue(tmp_path: Path) -> None:
    dst_base, src, dst, source = dev_and_prod(tmp_path)
    copy = dst.register_copy(source, src, PromotionRef("req-1", "abc", "dev", source.source_ref,
                                                       artifact_sha256=source.artifact_sha256))
    assert (copy.artifact_sha256, copy.artifact_digest_source) == (source.artifact_sha256, "countersign")
    meta = json.loads((dst_base / "fraud" / "1" / "metadata.json").read_text())
    assert meta["artifact_sha256"] == source.artifact_sha256  # the target registry records what was copied
    (dst_base / "fraud" / "1" / "model.skops").write_bytes(b"swapped in prod")
    snap = dst.extract(None)
    assert snap.versions[0].artifact_sha256 == sha(b"swapped in prod")
    assert [i.ref for i in snap.issues] == ["fraud/1"] and "changed after they were recorded" in snap.issues[0].message


def test_a_retry_refuses_a_copy_whose_bytes_were_swapped_in_the_target(tmp_path: Path) -> None:
    dst_base, src, dst, source = dev_and_prod(tmp_path)
    ref = PromotionRef("req-1", "abc", "dev", source.source_ref, artifact_sha256=source.artifact_sha256)
    dst.register_copy(source, src, ref)
    (dst_base / "fraud" / "1" / "model.skops").write_bytes(b"swapped in prod before the retry")
    with pytest.raises(ArtifactMismatch, match=r"the copy folder://prod/fraud/1/model\.skops in account prod"):
        dst.register_copy(source, src, ref)
