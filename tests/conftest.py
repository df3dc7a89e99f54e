"""Fixtures shared by every test package: demo workspaces built once, copied when a test writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from governance.catalog import Catalog
from governance.config import Workspace, load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The demo workspace, built once per test session. Treat it as read-only: use ``demo_copy`` to write."""
    from governance.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo") / "ws")


@pytest.fixture
def demo_copy(demo_workspace: Workspace, tmp_path: Path) -> Workspace:
    """A private copy of the demo workspace that a test may change."""
    target = tmp_path / "ws"
    shutil.copytree(demo_workspace.root, target)
    return Workspace(target)


@pytest.fixture
def demo_settings(demo_workspace: Workspace):
    return load_settings(demo_workspace)


@pytest.fixture
def demo_catalog(demo_workspace: Workspace) -> Catalog:
    return Catalog(demo_workspace.catalog_path)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's postgresql package) on a free port, for the whole session."""
    from tests.servers.postgres_server import PostgresServer, available

    if not available():
        pytest.fail("PostgreSQL is not installed: run 'make system-deps' (Debian's postgresql package)")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def catalog_backend() -> str:
    """The catalog backend of a test: DuckDB unless the test is parametrised with ``tests.backends.BOTH``."""
    return "duckdb"


@pytest.fixture
def catalog_url(catalog_backend: str, request: pytest.FixtureRequest) -> str | None:
    """None for DuckDB; for PostgreSQL the URL of a new, empty database of this test."""
    if catalog_backend == "duckdb":
        return None
    return request.getfixturevalue("postgres_server").new_database()
