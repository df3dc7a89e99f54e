"""Running a test suite over both catalog backends: DuckDB (the default) and a real PostgreSQL server.

A test opts in with ``@BOTH`` (or ``pytestmark = BOTH``); it then runs once per backend, and the ``catalog_url``
fixture (``tests/conftest.py``) is None for DuckDB or the URL of a fresh database on the session's PostgreSQL server.
:func:`use_catalog_url` writes that URL into a workspace's ``countersign.toml`` so the CLI and the portal find it.
"""

from __future__ import annotations

import pytest

from governance.config import Workspace

BACKENDS = ("duckdb", "postgresql")
BOTH = pytest.mark.parametrize("catalog_backend", BACKENDS)


def use_catalog_url(ws: Workspace, url: str | None) -> None:
    """Point the workspace's configuration at ``url`` (``[catalog] url``); None leaves it on catalog.duckdb."""
    if url is not None:
        with ws.config_path.open("a", encoding="utf-8") as f:
            f.write(f'\n[catalog]\nurl = "{url}"\n')
