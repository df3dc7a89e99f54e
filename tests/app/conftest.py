"""AppTest helpers: run the real app.py against a workspace, as a persona or a signed-in user."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def make_app(workspace: Path, monkeypatch: pytest.MonkeyPatch, *, persona: str | None = None,
             timeout: float = 60) -> AppTest:
    """An AppTest of app.py on ``workspace``; on a demo workspace ``persona`` picks the acting person."""
    monkeypatch.setenv("COUNTERSIGN_WORKSPACE", str(workspace))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if persona:
        at.session_state["cs.persona"] = persona
    return at


@pytest.fixture
def app_factory(monkeypatch: pytest.MonkeyPatch):
    def factory(workspace: Path, **kw) -> AppTest:
        return make_app(workspace, monkeypatch, **kw)

    return factory
