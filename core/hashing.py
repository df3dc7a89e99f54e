"""sha256 of a file's bytes: the content address of cached artifacts and datasets, and evidence input hashes."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20
_REMEMBERED: dict[tuple[str, int, int], str] = {}
_REMEMBERED_LOCK = threading.Lock()


def sha256_chunks(chunks: Iterable[bytes | memoryview], copy_to: BinaryIO | None = None) -> tuple[str, int]:
    """The sha256 (hex) and length of the bytes ``chunks`` yields (an HTTP body as it streams, never held whole);
    ``copy_to`` receives the same bytes as they are hashed (a download to a staging file)."""
    h = hashlib.sha256()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def _read_chunks(stream: BinaryIO) -> Iterator[bytes | memoryview]:
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        yield from iter(lambda: stream.read(_CHUNK), b"")
        return
    buf = bytearray(_CHUNK)  # one buffer reused: no allocation per chunk (faster than sha256sum here)
    view = memoryview(buf)
    while n := readinto(buf):
        yield view[:n]


def sha256_stream(stream: BinaryIO, copy_to: BinaryIO | None = None) -> tuple[str, int]:
    """:func:`sha256_chunks` of a binary stream read to its end, 1 MiB at a time."""
    return sha256_chunks(_read_chunks(stream), copy_to)


def sha256_file(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes, read in 1 MiB chunks."""
    with open(path, "rb", buffering=0) as f:
        return sha256_stream(f)[0]


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
