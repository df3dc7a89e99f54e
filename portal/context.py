"""The per-session context every page receives: workspace, settings, catalog and the signed-in identity.

``app.py`` builds it once per run (configuration is read once per process, cached by workspace path) and
stores it under a key no widget owns; pages call :func:`get`.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from governance.context import Context
from portal.text import code, inert

_KEY = "cs.ctx"
# session-state keys shared between pages (no widget owns them)
SELECTED_MODEL = "cs.selected_model"
SELECTED_VERSION = "cs.selected_version"
SELECTED_REQUEST = "cs.selected_request"


# The pages' name for the one request/identity context (governance.context.Context).
PortalContext = Context


def set_context(ctx: PortalContext) -> None:
    """Called by app.py on every run."""
    st.session_state[_KEY] = ctx


def get() -> PortalContext:
    """The context of this session, set by app.py before it runs a page (a page runs only through app.py's
    navigation: the page folder is not one Streamlit discovers by itself)."""
    return st.session_state[_KEY]


def select(key: str, value: str | None) -> None:
    """Remember a selection (model, version, request) for the next page."""
    st.session_state[key] = value


def _param(key: str) -> str:
    """The URL query parameter of a selection key: ``model``, ``version`` or ``request``."""
    return key.rsplit("_", 1)[-1]


def selected(key: str) -> str | None:
    """A selection made on another page, or from ``?model=`` / ``?version=`` / ``?request=`` in the URL."""
    param = _param(key)
    if param in st.query_params:
        return st.query_params[param]
    return st.session_state.get(key)


def linked(key: str) -> str | None:
    """The id the URL names for a selection (``?version=…`` for :data:`SELECTED_VERSION`), or None."""
    return st.query_params.get(_param(key))


def _follow(param: str, widget: str, forget: tuple[str, ...]) -> None:
    """on_change of a select box: the URL names what the user picked, so a copied link opens it."""
    value = st.session_state.get(widget)
    if value is None:
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = value
    for other in forget:
        st.query_params.pop(other, None)


def choose(label: str, options: Sequence[str], *, key: str, selection: str, scope: str = "in the catalog",
           fallback: str | None = None, forget: tuple[str, ...] = (), first: str | None = None) -> str | None:
    """A select box over ``options`` that opens on the id the URL names and keeps the URL naming what it shows.

    It starts on the id of ``?model=`` / ``?version=`` (the parameter of ``selection``), else on ``fallback``,
    else on the selection made on another page, else on ``first``, else on the first option. An id in the URL that is not among
    ``options`` is never silently replaced by another: a warning names it and nothing is selected until the user
    picks (the caller shows nothing for None). Picking updates the URL; ``forget`` names parameters a new pick
    makes stale (a new model drops ``?version=``).

    Args:
        label: the select box's label.
        options: the ids to pick from.
        key: the widget key.
        selection: the shared selection (``SELECTED_MODEL`` …) read on entry and remembered for other pages.
        scope: where the id was looked for, for the warning ("in the catalog", "a version of claims-fraud").
        fallback: the id to open when the URL names none (before the selection made on another page).
        forget: query parameters dropped when the user picks another option.
        first: the option to open when nothing names one (e.g. the first version with evidence).

    Returns:
        The picked id, or None while an unknown id from the URL waits for a pick.
    """
    param, options = _param(selection), list(options)
    link = st.query_params.get(param)
    index: int | None
    if st.session_state.get(key) in options:  # drawn before on this page: the widget keeps its own value
        index = options.index(st.session_state[key])
    elif link is not None and link not in options:
        index = None
        st.warning(f"The link asks for {param} {code(link)}, which is not {inert(scope)}. Nothing is shown in its place: "
                   f"pick a {param} below.", icon=":material/link_off:")
    else:
        wanted = link if link is not None else fallback or st.session_state.get(selection)
        if wanted not in options:
            wanted = first
        index = options.index(wanted) if wanted in options else 0
    value = st.selectbox(label, options, index=index, key=key, placeholder=f"Pick a {param}",
                         on_change=_follow, args=(param, key, forget))
    if value is not None:
        select(selection, value)
        if link != value:  # opened from the sidebar or another page: name what is shown
            st.query_params[param] = value
    return value
