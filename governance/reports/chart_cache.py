"""What vl-convert computes for a report, kept by content under the workspace cache.

Rendering a Vega-Lite spec to PNG costs ~0.2 s of CPU a chart and bundling Vega for the HTML report ~1.6 s; both
are pure functions of their input (the spec, or the Vega-Lite version) and of vl-convert's version, so each result
is stored once under ``<workspace>/cache/charts/`` named by the sha256 of what it depends on, and read back by the
next report. Without a cache folder (a build outside a workspace) they are computed every time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from governance.config import private_dir

PNG_SCALE = 2.0
FOLDER = "charts"


@functools.lru_cache(maxsize=1)
def _vl_convert_version() -> str:
    try:
        return metadata.version("vl-convert-python")
    except metadata.PackageNotFoundError:
        return "?"


def _cached(cache_dir: Path | None, key: Any, suffix: str, make: Callable[[], bytes]) -> bytes:
    """The bytes ``make`` returns for ``key``, from the cache when stored there before."""
    if cache_dir is None:
        return make()
    text = json.dumps([_vl_convert_version(), key], sort_keys=True, separators=(",", ":"), default=str)
    path = cache_dir / FOLDER / f"{hashlib.sha256(text.encode()).hexdigest()}{suffix}"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = make()
    try:
        private_dir(path.parent)  # like every folder Countersign makes in a workspace
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # whole or not at all: a reader never sees half a file
    except OSError:
        pass  # a read-only cache only costs the next report the same work again
    return data


def render_png(spec: dict[str, Any], cache_dir: Path | None = None) -> bytes:
    """PNG bytes of a Vega-Lite spec (deterministic for the same spec), cached by the spec's content."""

    def make() -> bytes:
        import vl_convert as vlc

        return vlc.vegalite_to_png(spec, scale=PNG_SCALE)

    return _cached(cache_dir, {"png": spec, "scale": PNG_SCALE}, ".png", make)


def vega_bundle(vl_version: str, cache_dir: Path | None = None) -> str:
    """Vega, Vega-Lite ``vl_version`` and vega-embed as one script (from vl-convert, no network), cached."""

    def make() -> bytes:
        import vl_convert as vlc

        return vlc.javascript_bundle(vl_version=vl_version).encode("utf-8")

    return _cached(cache_dir, {"bundle": vl_version}, ".js", make).decode("utf-8")
