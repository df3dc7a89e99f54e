"""The per-session context every page receives: workspace, settings, catalog and the signed-in identity.

``app.py`` builds it once per run (configuration is read once per process, cached by workspace path) and
stores it under a key no widget owns; pages call :func:`get`.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from governance.catalog import Catalog
from governance.config import Settings, Workspace
from governance.identity import Identity

_KEY = "cs.ctx"
# session-state keys shared between pages (no widget owns them)
SELECTED_MODEL = "cs.selected_model"
SELECTED_VERSION = "cs.selected_version"
SELECTED_REQUEST = "cs.selected_request"


@dataclass(frozen=True)
class PortalContext:
    """What a page needs to do its work."""

    workspace: Workspace
    settings: Settings
    catalog: Catalog
    identity: Identity

    @property
    def is_demo(self) -> bool:
        return self.settings.workspace.demo


def set_context(ctx: PortalContext) -> None:
    """Called by app.py on every run."""
    st.session_state[_KEY] = ctx


def get() -> PortalContext:
    """The context of this session, set by app.py before any page runs.

    Right after a server start, a deep link (``/accounts``) can reach a page file before any session has
    declared ``st.navigation``; Streamlit then runs the page without app.py. Send such a visitor through
    app.py (sign-in, roles) instead of failing.
    """
    if _KEY not in st.session_state:
        st.switch_page("app.py")
    return st.session_state[_KEY]


def select(key: str, value: str | None) -> None:
    """Remember a selection (model, version, request) for the next page."""
    st.session_state[key] = value


def selected(key: str) -> str | None:
    """A selection made on another page, or from ``?model=`` / ``?version=`` / ``?request=`` in the URL."""
    param = key.rsplit("_", 1)[-1]
    if param in st.query_params:
        return st.query_params[param]
    return st.session_state.get(key)
