"""Start the portal so that the first page after start is as fast as a warm one.

Streamlit runs ``app.py`` only when a browser connects, so the first visitor after a (re)start used to pay for every
import the pages make (pandas, altair, pyarrow, DuckDB and the governance services: seconds of CPU) and for the first
catalog open. ``countersign serve`` starts Streamlit through this module instead of ``python -m streamlit``: it first
imports what the page table's scripts import (read from their source, so a new page is warmed without a list to keep)
and opens the workspace's catalog once, then runs Streamlit's own command line in the same process, unchanged.

The warming is done before the server binds its port, not in a thread beside it: libraries peek at ``sys.modules``
(plotly, imported by Streamlit, checks ``pandas.Series``) and fail on a module another thread is still initialising.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what app.py itself runs on every page, before the page
APP_MODULES = ("pandas", "altair", "pyarrow", "duckdb", "governance.sync", "governance.signoff", "portal.integrity")


def page_imports(scripts: Iterable[Path]) -> list[str]:
    """The modules the page scripts import at their top level, in first-seen order (no script is executed)."""
    seen: dict[str, None] = {}
    for script in scripts:
        tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
        for node in tree.body:
            if isinstance(node, ast.Import):
                seen.update((a.name, None) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                seen[node.module] = None
    return [m for m in seen if m != "__future__"]


def warm(workspace: str | None, modules: Iterable[str]) -> dict[str, float]:
    """Import ``modules`` and open the workspace's catalog; the seconds each step took (failures are left to the
    first page, which reports them to the person who opened it)."""
    took: dict[str, float] = {}
    start = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:  # a page importing something optional: the page says so when it runs
            continue
    took["imports"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        from core.errors import CountersignError
        from governance.catalog import Catalog
        from governance.config import load_settings, resolve_workspace

        ws = resolve_workspace(workspace, os.environ)
        settings = load_settings(ws)
        catalog = Catalog(ws.catalog_path, url=settings.catalog.url)
        catalog.inventory()  # the default page's first query: DuckDB's file and query caches
    except (CountersignError, OSError):  # a broken workspace: app.py shows the problem on the first page
        pass
    took["catalog"] = time.perf_counter() - start
    return took


def _workspace(argv: list[str]) -> str | None:
    """The ``--workspace`` given to app.py after the lone ``--``."""
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    return rest[rest.index("--workspace") + 1] if "--workspace" in rest[:-1] else None


def main(argv: list[str] | None = None) -> None:
    """``python -m portal.launch run app.py [streamlit flags] -- --workspace DIR``: Streamlit, warmed."""
    args = list(sys.argv[1:] if argv is None else argv)
    from portal.pages import PAGES

    warm(_workspace(args), [*APP_MODULES, *page_imports(ROOT / p.path for p in PAGES)])
    from streamlit.web import cli

    sys.argv = ["streamlit", *args]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
