"""What a report's charts cost, computed once and kept by content under the workspace cache.

Three things are pure functions of their input and of the code that makes them, and each costs real CPU: a chart's
Vega-Lite spec (altair: ~0.45 s to import, ~0.1 s a chart), its PNG (vl-convert: ~0.2 s a chart) and the Vega bundle
the HTML report inlines (~1.6 s). Each result is stored once under ``<workspace>/cache/charts/`` named by the sha256
of what it depends on (the evidence result and the chart's code; the spec; the Vega-Lite version; and the versions
of the libraries), and read back by the next report. Without a cache folder (a build outside a workspace) they are
computed every time.
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


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


@functools.lru_cache(maxsize=1)
def _vl_convert_version() -> str:
    return _version("vl-convert-python")


@functools.lru_cache(maxsize=1)
def _chart_code() -> list[str]:
    """What a chart spec depends on besides its data: the chart module's source and the versions drawing it."""
    import governance
    from governance.analytics import __file__ as analytics_init

    source = (Path(analytics_init).parent / "evidence_charts.py").read_bytes()
    return [governance.__version__, _version("altair"), hashlib.sha256(source).hexdigest()]


def cached(cache_dir: Path | None, key: Any, suffix: str, make: Callable[[], bytes]) -> bytes:
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

    return cached(cache_dir, {"png": spec, "scale": PNG_SCALE}, ".png", make)


def vega_bundle(cache_dir: Path | None = None) -> str:
    """Vega, Vega-Lite (the version altair writes specs for) and vega-embed as one script, from vl-convert (no
    network); cached by the versions of altair and vl-convert, so a warm report imports neither."""

    def make() -> bytes:
        import vl_convert as vlc
        from altair.utils._importers import vl_version_for_vl_convert

        return vlc.javascript_bundle(vl_version=vl_version_for_vl_convert()).encode("utf-8")

    return cached(cache_dir, {"bundle_for_altair": _version("altair")}, ".js", make).decode("utf-8")


class ChartSpecs:
    """The chart specs of one report (the :class:`governance.document.Charts` its blocks draw with), each computed by
    :mod:`governance.analytics.evidence_charts` once and then read from ``cache_dir`` by content."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir

    def spec(self, name: str, *args: Any) -> dict[str, Any] | None:
        """The spec of ``evidence_charts.<name>(*args)``, or None when it cannot draw them."""

        def make() -> Any:
            from governance.analytics.evidence_charts import spec_of

            return spec_of(name, *args)

        return self._spec({"chart": name, "args": list(args)}, make)

    def bars(self, points: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        """A plain horizontal bar chart of ``points`` (:func:`evidence_charts.bar_spec`)."""

        def make() -> Any:
            from governance.analytics.evidence_charts import bar_spec

            return bar_spec(points, **options)

        return self._spec({"bars": points, "options": options}, make)

    def _spec(self, key: dict[str, Any], make: Callable[[], Any]) -> Any:
        if self.cache_dir is None:
            return make()
        data = cached(self.cache_dir, {"spec": key, "code": _chart_code()}, ".json",
                       lambda: json.dumps(make(), sort_keys=True, default=str).encode("utf-8"))
        return json.loads(data)


# -- where the headings fell last time -----------------------------------------------------------------------------


def contents_key(document: Any) -> str:
    """What the pages of a report's contents depend on: everything after the cover (a changed build time or signer
    moves no heading; were the cover to grow a page, the guess is simply wrong, which costs a pass, not a page)."""
    text = repr((document.title, document.front, document.body, document.back))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def layout_guess(cache_dir: Path | None, key: str) -> list[tuple[int, str, int, str | None]] | None:
    """The contents entries (level, heading, page, link) the last build of this content ended with, or None.

    A guess, and a safe one: reportlab lays the document out once with it and checks that every heading landed on
    the page the guess says; when one did not, it lays it out again with what it found, as without the guess.
    """
    if cache_dir is None:
        return None
    try:
        stored = json.loads((cache_dir / FOLDER / f"{key}.layout.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [(int(level), str(text), int(page), key_ if key_ is None else str(key_)) for level, text, page, key_ in stored]


def remember_layout(cache_dir: Path | None, key: str, entries: list[tuple[int, str, int, str | None]]) -> None:
    """Keep the contents entries a build ended with, for the next build of the same content."""
    if cache_dir is None:
        return
    data = json.dumps([list(e) for e in entries]).encode("utf-8")
    path = cache_dir / FOLDER / f"{key}.layout.json"
    try:
        if path.exists() and path.read_bytes() == data:
            return
        private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass
