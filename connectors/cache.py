"""The content-addressed cache every connector's ``fetch`` writes into.

A fetched file lives at ``<cache>/sha256/<2 hex>/<digest><suffix>``: two accounts (or two connectors) that fetch
the same bytes share one file, and a file's name proves its content. A small index maps what a source says about
an object (its URI plus an ETag, a size, a modification time) to the stored file, so fetching an unchanged object
again reads nothing. Writes go to a temporary file first and are moved into place atomically.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from core.errors import ConnectorError, NotFound
from core.files import private_mode
from core.hashing import sha256_file

_swept: set[str] = set()  # cache folders whose leftovers this process has removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process (a group-shared workspace)
        return True
    return True


def sweep(cache_dir: Path) -> int:
    """Remove the partial downloads that processes which are gone left in ``<cache>/tmp`` (a ``kill -9`` during a
    2 GB copy); a live process's files stay. Returns how many were removed."""
    removed = 0
    for path in (Path(cache_dir) / "tmp").glob("*"):
        pid, sep, _ = path.name.partition("-")
        if not sep or not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            path.unlink()
            removed += 1
        except OSError:  # another process swept it first, or a group member's file we may not remove
            continue
    return removed


def temp_file(cache_dir: Path) -> tuple[int, Path]:
    """A new temporary file in ``<cache>/tmp`` named after this process (``<pid>-…``), so that a later process can
    tell a dead one's partial download from a live one's; the first call per folder sweeps the dead ones' first."""
    tmp_dir = Path(cache_dir) / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    key = str(tmp_dir)
    if key not in _swept:
        _swept.add(key)
        sweep(cache_dir)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix=f"{os.getpid()}-")
    return fd, Path(name)


class ContentCache:
    """The cache folder of a workspace, seen by one connector kind (``namespace`` keeps their indexes apart)."""

    def __init__(self, cache_dir: Path, namespace: str) -> None:
        self.root = Path(cache_dir)
        self.namespace = namespace

    def blob_path(self, digest: str, suffix: str = "") -> Path:
        """Where the bytes with sha256 ``digest`` are stored."""
        return self.root / "sha256" / digest[:2] / f"{digest}{suffix}"

    def store(self, write: Callable[[BinaryIO], None], suffix: str = "") -> Path:
        """Write via ``write`` into a temporary file, then move it to its content address (atomic, race-free)."""
        fd, tmp = temp_file(self.root)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            return self._place(tmp, sha256_file(tmp), suffix)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def store_hashed(self, write: Callable[[Path], str], suffix: str = "") -> Path:
        """Like :meth:`store` for a writer that fills the temporary file at the path it is given and returns the
        sha256 of what it wrote (hashed as it streamed: the file is not read again)."""
        fd, tmp = temp_file(self.root)
        os.close(fd)
        try:
            return self._place(tmp, write(tmp), suffix)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _place(self, tmp: Path, digest: str, suffix: str) -> Path:
        os.chmod(tmp, private_mode(self.root))  # the group's too, in a group-shared workspace
        target = self.blob_path(digest, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        return target

    def store_file(self, source: Path, suffix: str = "") -> Path:
        """A copy of the local file ``source`` at its content address."""

        def copy(fh: BinaryIO) -> None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)

        return self.store(copy, suffix)

    def _index(self, marker: str) -> Path:
        return self.root / "index" / f"{self.namespace}-{hashlib.sha256(marker.encode()).hexdigest()}"

    def lookup(self, marker: str) -> Path | None:
        """The stored file remembered for ``marker`` (a URI plus what identifies its version), if still there."""
        entry = self._index(marker)
        try:
            text = entry.read_text()
        except FileNotFoundError:
            return None
        # an empty entry is one another thread is writing (or a crash left): not a hit (Path("") would be ".")
        path = Path(text) if text else None
        return path if path is not None and path.is_file() else None

    def remember(self, marker: str, path: Path) -> None:
        """Remember that ``marker`` was stored as ``path``."""
        entry = self._index(marker)
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_file(self.root)  # written whole, then renamed: a concurrent lookup never reads it half done
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(str(path))
            os.replace(tmp, entry)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def fetch_s3(cache: ContentCache, s3: Any, uri: str, who: str, *, suffix: str | None = None) -> Path:
    """A local copy of the S3 object at ``uri`` read with the boto3 client ``s3``, remembered by its ETag and size
    (an unchanged object is not read again); ``who`` names the account in errors, ``suffix`` the copy's (default:
    the key's)."""
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        marker = f"{uri}|{head.get('ETag')}|{head.get('ContentLength')}"
        cached = cache.lookup(marker)
        if cached:
            return cached
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise NotFound(f"{who}: no object {uri}") from None
        raise ConnectorError(f"{who}: cannot read {uri}: {exc}") from None
    except BotoCoreError as exc:
        raise ConnectorError(f"{who}: cannot read {uri}: {exc}") from None

    def copy(fh: BinaryIO) -> None:
        for chunk in iter(lambda: body.read(1 << 20), b""):
            fh.write(chunk)

    path = cache.store(copy, "".join(PurePosixPath(key).suffixes[-2:])[:24] if suffix is None else suffix)
    cache.remember(marker, path)
    return path
