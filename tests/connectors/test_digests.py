"""connectors.digests: the directory digest against the documented shell pipeline, the index by identity, S3 objects
and prefixes on the moto server (through SageMaker's and ZenML's connectors), and the rule for registry digests."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest

from connectors import digests
from connectors.base import AccountInfo, SyncIssue, VersionRecord
from core.errors import ArtifactMismatch

T0 = dt.datetime(2026, 5, 1, 12, 0)


def model_dir(root: Path) -> Path:
    folder = root / "model"
    (folder / "code" / "ünï").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "model.skops").write_bytes(b"\x00weights\xff" * 1000)
    (folder / "code" / "predict.py").write_text("print('x')\n")
    (folder / "code" / "ünï" / "a b.txt").write_text("spaces and non-ASCII in names\n")
    (folder / "Zebra").write_text("upper case sorts first\n")
    return folder


def test_a_directory_digest_is_what_the_documented_shell_pipeline_computes(tmp_path: Path) -> None:
    folder = model_dir(tmp_path)
    # the check docs/connectors.md gives to anyone, run with coreutils: an oracle independent of the code
    shell = subprocess.run(
        "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | while read -r f; do "
        "printf '%s\\0%s\\n' \"$f\" \"$(sha256sum < \"$f\" | cut -d' ' -f1)\"; done | sha256sum",
        shell=True, cwd=folder, capture_output=True, text=True, check=True).stdout.split()[0]
    index = digests.DigestIndex(tmp_path / "cache", "test")
    got = digests.local_digest(index, folder.as_uri(), folder, tmp_path)
    assert (got.sha256, got.source, got.problem) == (shell, "countersign", None)
    files = [(p.relative_to(folder).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
             for p in folder.rglob("*") if p.is_file()]
    assert digests.manifest_digest(reversed(files)) == shell  # the order given does not matter
    with pytest.raises(ValueError):
        digests.manifest_digest([])


def test_the_index_remembers_by_identity_across_connectors_and_processes(tmp_path: Path) -> None:
    reads = []

    def read() -> str:
        reads.append(1)
        return "c" * 64

    first = digests.DigestIndex(tmp_path, "kind").observe("uri|etag-1", read)
    again = digests.DigestIndex(tmp_path, "kind").observe("uri|etag-1", read)  # another instance, same folder
    assert first == again and len(reads) == 1 and first.observed_at is not None
    assert digests.DigestIndex(tmp_path, "kind").observe("uri|etag-1", read, fresh=True).sha256 == "c" * 64
    assert len(reads) == 2
    assert digests.DigestIndex(tmp_path, "other").lookup("uri|etag-1") is None  # kinds keep their indexes apart

    def broken() -> str:
        raise OSError("Permission denied:\n/srv/models/x")

    failed = digests.DigestIndex(tmp_path, "kind").observe("uri|etag-2", broken)
    assert failed.sha256 is None and failed.problem == "Permission denied: /srv/models/x"  # one line
    assert digests.DigestIndex(tmp_path, "kind").lookup("uri|etag-2") is None  # a failure is not remembered


def record(**kw) -> VersionRecord:
    return VersionRecord(**{"model": "m", "version": 1, "source_ref": "m/1", "approval_status": "Approved",
                            "created_at": T0, "artifact_uri": "s3://b/k", **kw})


def test_countersigns_reading_wins_and_a_registry_digest_stands_in_only_when_unreadable() -> None:
    read = digests.ArtifactDigest("a" * 64, "countersign", T0, "id")
    issues: list[SyncIssue] = []
    settled = digests.settle(record(), read, "B" * 64, issues)  # the registry's record disagrees
    assert (settled.artifact_sha256, settled.artifact_digest_source, settled.artifact_digest_at) == (
        "a" * 64, "countersign", T0)
    assert len(issues) == 1 and "bbbbbbbbbbbb" in issues[0].message and "aaaaaaaaaaaa" in issues[0].message
    unread = digests.unreadable("s3://b/k: AccessDenied: Access Denied")
    stand_in = digests.settle(record(), unread, "b" * 64, issues)
    assert (stand_in.artifact_sha256, stand_in.artifact_digest_source) == ("b" * 64, "registry")
    assert stand_in.artifact_digest_problem == "s3://b/k: AccessDenied: Access Denied" and len(issues) == 1
    none = digests.settle(record(artifact_sha256="stale"), unread, None)
    assert (none.artifact_sha256, none.artifact_digest_source) == (None, None) and none.artifact_digest_problem


def test_require_refuses_other_or_unread_bytes_and_names_both_digests() -> None:
    digests.require(None, digests.unreadable("x"), "anything")  # nothing approved: nothing to check
    digests.require("a" * 64, "a" * 64, "same")
    with pytest.raises(ArtifactMismatch) as err:
        digests.require("a" * 64, digests.unreadable("404: Not Found"), "the source artifact s3://b/k")
    assert (err.value.expected, err.value.found) == ("a" * 64, None)
    assert "aaaaaaaaaaaa" in str(err.value) and "could not be read" in str(err.value) and "404" in str(err.value)


def test_s3_objects_and_uncompressed_model_prefixes_on_moto(aws_env, tmp_path: Path) -> None:
    from connectors.sagemaker import SageMakerConnector, SageMakerSettings
    from connectors.zenml import ZenMLConnector, ZenMLSettings
    from tests.connectors import sagemaker_seed as seed

    account = "111111111111"
    _, s3 = seed.clients(account)
    bucket = seed.bucket_for(account)
    seed.ensure_bucket(s3, bucket)
    seed.put(s3, bucket, "models/a/model.tar.gz", b"tarball")
    seed.put(s3, bucket, "models/dir/model/MLmodel", b"flavors: {}")
    seed.put(s3, bucket, "models/dir/model/data/model.skops", b"weights")
    sm = SageMakerConnector(SageMakerSettings(region=seed.REGION, role_arn=seed.role_arn(account)),
                            AccountInfo("ml-dev", "dev"), root=tmp_path, cache_dir=tmp_path / "cache")
    obj = sm.artifact_digest(record(artifact_uri=f"s3://{bucket}/models/a/model.tar.gz"))
    assert obj.sha256 == hashlib.sha256(b"tarball").hexdigest() and obj.identity
    prefix = sm.artifact_digest(record(artifact_uri=f"s3://{bucket}/models/dir/model"))
    assert prefix.sha256 == digests.manifest_digest([("MLmodel", hashlib.sha256(b"flavors: {}").hexdigest()),
                                                     ("data/model.skops", hashlib.sha256(b"weights").hexdigest())])
    missing = sm.artifact_digest(record(artifact_uri=f"s3://{bucket}/models/none.tar.gz"))
    assert missing.sha256 is None and "no such object" in (missing.problem or "")
    # ZenML artifacts in an S3 store go through the same reader, with the host's AWS defaults (here: moto)
    s3_default = __import__("boto3").client("s3")
    s3_default.create_bucket(Bucket="zenml-store", CreateBucketConfiguration={"LocationConstraint": seed.REGION})
    s3_default.put_object(Bucket="zenml-store", Key="artifacts/model/abc/model.skops", Body=b"zenml weights")
    zen = ZenMLConnector(ZenMLSettings(url="http://127.0.0.1:9", api_key_env="K"),
                         AccountInfo("zen", "dev", secrets={"K": "ZENKEY_unused"}), root=tmp_path,
                         cache_dir=tmp_path / "cache")
    got = zen.artifact_digest(record(artifact_uri="s3://zenml-store/artifacts/model/abc"))
    assert got.sha256 == digests.manifest_digest([("model.skops", hashlib.sha256(b"zenml weights").hexdigest())])
    s3_default.put_object(Bucket="zenml-store", Key="artifacts/model/abc/model.skops", Body=b"swapped")
    assert zen.artifact_digest(record(artifact_uri="s3://zenml-store/artifacts/model/abc")).sha256 != got.sha256
