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
