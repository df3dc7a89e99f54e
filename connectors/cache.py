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
from pathlib import Path
from typing import BinaryIO

from core.files import private_mode
from core.hashing import sha256_file


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
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.chmod(tmp, private_mode(self.root))  # the group's too, in a group-shared workspace
            target = self.blob_path(sha256_file(tmp), suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            return target
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

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
        if entry.exists():
            path = Path(entry.read_text())
            if path.exists():
                return path
        return None

    def remember(self, marker: str, path: Path) -> None:
        """Remember that ``marker`` was stored as ``path``."""
        entry = self._index(marker)
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(str(path))
