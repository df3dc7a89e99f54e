"""sha256 of a file's bytes: the content address of cached artifacts and datasets, and evidence input hashes."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

_CHUNK = 1 << 20
_REMEMBERED: dict[tuple[str, int, int], str] = {}
_REMEMBERED_LOCK = threading.Lock()


def sha256_file(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file_remembered(path: str | Path) -> str:
    """:func:`sha256_file`, remembered per path, size and modification time within the process.

    For files hashed again and again that change only by being rewritten (datasets behind evidence).
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _REMEMBERED_LOCK:
        if key in _REMEMBERED:
            return _REMEMBERED[key]
    digest = sha256_file(p)
    with _REMEMBERED_LOCK:
        _REMEMBERED[key] = digest
    return digest
