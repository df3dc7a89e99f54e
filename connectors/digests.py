"""Countersign's own digest of a version's artifact: its bytes streamed through sha256, once per version.

What the digest is (every kind, so that two accounts holding the same bytes agree):

- a **file** artifact: the sha256 (hex) of its bytes;
- a **directory** artifact (an MLflow model directory, a ZenML artifact folder, an S3 prefix): the sha256 (hex) of
  its *manifest*, the UTF-8 text made of one line ``<relative path>\\0<sha256 hex of the file's bytes>\\n`` per
  file, the lines sorted by relative path (POSIX ``/`` separators, no leading ``./``, bytewise order of the UTF-8).
  Every file counts (``MLmodel``, ``conda.yaml``, code): what a server loads is what the approval binds. An empty
  directory has no digest. Check one by hand::

      cd DIR && find . -type f | sed 's|^\\./||' | LC_ALL=C sort | while read -r f; do
        printf '%s\\0%s\\n' "$f" "$(sha256sum < "$f" | cut -d' ' -f1)"; done | sha256sum

Reading happens once per version: :class:`DigestIndex` remembers, per connector kind, the digest read for an
*identity* — what the source says identifies the bytes (the URI with an ETag, a size, a modification time) — in
``<cache>/digests/<kind>-<sha256 of the identity>``, next to the fetch index of :mod:`connectors.cache`. The next
sync asks the source for the identity only (an S3 HEAD, a ``stat``, a listing) and reads the bytes again only when
it changed; ``fresh=True`` (approval, execution) always reads them. Bytes are hashed as they stream, never held in
memory.

Where the registry itself records a digest (Countersign's metadata on a promoted copy, or a pipeline's), it is kept
with source ``registry`` only when the bytes cannot be read; when both are known Countersign's reading wins and a
disagreement is a :class:`~connectors.base.SyncIssue` (:func:`settle`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from connectors.base import ArtifactDigest, SyncIssue, VersionRecord
from core.canonical import canonical_json
from core.clock import utcnow
from core.errors import ArtifactMismatch, ConnectorError, CountersignError
from core.hashing import sha256_file, sha256_stream

# Switchable for benchmarks/digests.py only (a sync timed with and without digests); everything else leaves it on.
ENABLED = True

COUNTERSIGN = "countersign"
REGISTRY = "registry"


def manifest_digest(files: Iterable[tuple[str, str]]) -> str:
    """The digest of a directory artifact from its files' (relative POSIX path, sha256 hex) pairs (see above)."""
    entries = sorted((path.encode("utf-8"), digest) for path, digest in files)
    if not entries:
        raise ValueError("an empty directory has no digest")
    h = hashlib.sha256()
    for path, digest in entries:
        h.update(path + b"\0" + digest.encode("ascii") + b"\n")
    return h.hexdigest()


def unreadable(problem: str, identity: str | None = None) -> ArtifactDigest:
    """The observation of an artifact whose bytes could not be read, and why (one line)."""
    return ArtifactDigest(sha256=None, source=COUNTERSIGN, observed_at=None, identity=identity,
                          problem=" ".join(problem.split())[:500])


class DigestIndex:
    """The digests one connector kind read, by identity, in the workspace's cache folder (shared by processes)."""

    def __init__(self, cache_dir: Path, namespace: str) -> None:
        self.root = Path(cache_dir) / "digests"
        self.namespace = namespace

    def _entry(self, identity: str) -> Path:
        return self.root / f"{self.namespace}-{hashlib.sha256(identity.encode()).hexdigest()}"

    def lookup(self, identity: str) -> ArtifactDigest | None:
        """The digest read before for ``identity``, if any (an unreadable or foreign entry counts as none)."""
        try:
            data = json.loads(self._entry(identity).read_text(encoding="utf-8"))
            if data.get("identity") != identity or len(data.get("sha256") or "") != 64:
                return None
            return ArtifactDigest(data["sha256"], COUNTERSIGN, dt.datetime.fromisoformat(data["observed_at"]),
                                  identity)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, digest: ArtifactDigest) -> None:
        """Keep ``digest`` (a reading with an identity) for the next lookup; written atomically."""
        if digest.sha256 is None or digest.identity is None or digest.observed_at is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"identity": digest.identity, "sha256": digest.sha256,
                           "observed_at": digest.observed_at.isoformat()}, fh)
            os.replace(tmp, self._entry(digest.identity))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def observe(self, identity: str, read: Callable[[], str], *, fresh: bool = False) -> ArtifactDigest:
        """The digest of the bytes ``identity`` names: remembered, or ``read()`` (streams them; raises a
        :class:`CountersignError` or ``OSError`` saying why they cannot be read) and then remembered."""
        if not fresh and (known := self.lookup(identity)) is not None:
            return known
        try:
            digest = ArtifactDigest(read(), COUNTERSIGN, utcnow(), identity)
        except (CountersignError, OSError, ValueError) as exc:
            return unreadable(str(exc) or type(exc).__name__, identity)
        self.remember(digest)
        return digest


def _stat_identity(path: Path) -> list[int]:
    st = path.stat()
    # the change time and inode catch a copy over the file that kept its size and modification time
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def local_digest(index: DigestIndex, uri: str, path: Path, root: Path, *, fresh: bool = False) -> ArtifactDigest:
    """The digest of the local file or directory ``path`` (what ``uri`` names) under ``root``; a path, or a file of
    the directory, that resolves outside ``root`` (``..``, a symbolic link) is refused unread. The identity: each
    file's relative path, size, modification and change times and inode."""
    root = root.resolve()
    path = path.resolve()
    if path != root and root not in path.parents:
        return unreadable(f"refused: {uri} resolves to {path}, outside {root} (not read, not hashed)")
    if path.is_file():
        return index.observe(canonical_json([uri, str(path), _stat_identity(path)]), lambda: sha256_file(path),
                             fresh=fresh)
    if not path.is_dir():
        return unreadable(f"{uri}: no such file or directory")
    files = sorted(p for p in path.rglob("*") if p.is_file())
    outside = [f for f in files if root not in f.resolve().parents]
    if outside:
        return unreadable(f"refused: {uri} holds {outside[0].relative_to(path)}, a link outside {root} "
                          "(not read, not hashed)")
    if not files:
        return unreadable(f"{uri}: the artifact directory is empty")
    entries = [(f.relative_to(path).as_posix(), f) for f in files]
    identity = canonical_json([uri, str(path), [[rel, *_stat_identity(f)] for rel, f in entries]])
    return index.observe(identity, lambda: manifest_digest((rel, sha256_file(f)) for rel, f in entries), fresh=fresh)


def _aws_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        err = response["Error"]
        return f"{err.get('Code') or 'error'}: {err.get('Message') or ''}".strip(": ")
    return f"{type(exc).__name__}: {exc}"


def s3_digest(index: DigestIndex, s3: Any, uri: str, *, fresh: bool = False) -> ArtifactDigest:
    """The digest of the S3 object ``uri`` (``s3://bucket/key``) read with the boto3 client ``s3``, or, when there is
    no such object and the key names no file (no ``.suffix``), of the objects under ``uri/`` as a directory (an
    uncompressed model). The identity: the URI with
    each object's ETag, size, modification time and version id; the bytes are read with ``IfMatch`` on the ETag,
    so they are the ones the identity names."""
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(uri)
    bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
    if parts.scheme != "s3" or not bucket or not key:
        return unreadable(f"{uri!r} is not an S3 object URI (s3://bucket/key)")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        objects = [(key, head.get("ETag"), head.get("ContentLength"), str(head.get("LastModified")),
                    head.get("VersionId"))]
        prefix = None
    except ClientError as exc:
        if _aws_error(exc).split(":")[0] not in ("404", "NoSuchKey", "NotFound"):
            return unreadable(f"{uri}: {_aws_error(exc)}")
        if "." in key.rsplit("/", 1)[-1]:  # a file name (model.tar.gz): no object is no artifact, not a folder
            return unreadable(f"{uri}: no such object")
        prefix = key.rstrip("/") + "/"
        try:
            objects = sorted((o["Key"], o.get("ETag"), o.get("Size"), str(o.get("LastModified")), None)
                             for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                             for o in page.get("Contents", []) if not o["Key"].endswith("/"))
        except (ClientError, BotoCoreError) as exc:
            return unreadable(f"{uri}: {_aws_error(exc)}")
        if not objects:
            return unreadable(f"{uri}: no such object (nor objects under it)")
    except BotoCoreError as exc:
        return unreadable(f"{uri}: {_aws_error(exc)}")

    def one(name: str, etag: str | None) -> str:
        try:  # IfMatch: a newer upload in between fails the read instead of being hashed under the old identity
            body = s3.get_object(Bucket=bucket, Key=name, **({"IfMatch": etag} if etag else {}))["Body"]
            return sha256_stream(body)[0]
        except (ClientError, BotoCoreError) as exc:
            raise ConnectorError(f"s3://{bucket}/{name}: {_aws_error(exc)}") from None

    def read() -> str:
        if prefix is None:
            return one(key, objects[0][1])
        return manifest_digest((name[len(prefix):], one(name, etag)) for name, etag, *_ in objects)

    return index.observe(canonical_json([uri, objects]), read, fresh=fresh)


def settle(record: VersionRecord, observed: ArtifactDigest | None, recorded: str | None,
           issues: list[SyncIssue] | None = None) -> VersionRecord:
    """``record`` with its digest and where it came from: Countersign's reading when there is one (a registry
    digest that disagrees is an issue), else the digest the registry records (``recorded``), else none and why."""
    recorded = recorded.strip().lower() if recorded else None
    if observed is not None and observed.sha256:
        if recorded and recorded != observed.sha256 and issues is not None:
            issues.append(SyncIssue(record.source_ref, (
                f"the registry records sha256 {recorded[:12]}… for the artifact {record.artifact_uri}, but "
                f"Countersign read {observed.sha256[:12]}…: the bytes changed after they were recorded; find out who "
                "replaced them before this version is approved or promoted")))
        return dataclasses.replace(record, artifact_sha256=observed.sha256, artifact_digest_source=COUNTERSIGN,
                                   artifact_digest_at=observed.observed_at, artifact_digest_problem=None)
    problem = observed.problem if observed is not None else None
    if recorded:
        return dataclasses.replace(record, artifact_sha256=recorded, artifact_digest_source=REGISTRY,
                                   artifact_digest_at=None, artifact_digest_problem=problem)
    return dataclasses.replace(record, artifact_sha256=None, artifact_digest_source=None, artifact_digest_at=None,
                               artifact_digest_problem=problem)


def require(expected: str | None, found: ArtifactDigest | str | None, where: str) -> None:
    """Refuse (:class:`ArtifactMismatch`) bytes whose digest is not ``expected``; nothing to check when None."""
    if expected is None:
        return
    sha = found.sha256 if isinstance(found, ArtifactDigest) else found
    if sha != expected:
        problem = found.problem if isinstance(found, ArtifactDigest) and found.problem else None
        raise ArtifactMismatch(expected, sha, f"{where} ({problem})" if problem else where)
