"""The per-session context every page receives: workspace, settings, catalog and the signed-in identity.

``app.py`` builds it once per run (configuration is read once per process, cached by workspace path) and
stores it under a key no widget owns; pages call :func:`get`.
"""

from __future__ import annotations

import streamlit as st

from governance.context import Context
from governance.usecases.selection import Choice, Wanted
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


def wanted(key: str, selection: str) -> Wanted:
    """What the picker ``key`` is asked to show this run: its own state, the URL's id (``?version=`` for
    :data:`SELECTED_VERSION`) and the selection made on another page (the use case decides among them)."""
    return Wanted(state=st.session_state.get(key), link=st.query_params.get(_param(selection)),
                  shared=st.session_state.get(selection))


def picker(label: str, choice: Choice, *, key: str, selection: str, scope: str = "in the catalog",
           forget: tuple[str, ...] = ()) -> str | None:
    """A select box over ``choice``'s options, open on the one the use case chose, keeping the URL naming it.

    An id in the URL that is not among the options selected nothing (``choice.unknown_link``): a warning names it and
    the caller shows nothing until the user picks. Picking updates the URL; ``forget`` names parameters a new pick
    makes stale (a new model drops ``?version=``).

    Args:
        label: the select box's label.
        choice: the options and the chosen index (:func:`governance.usecases.selection.choose`).
        key: the widget key.
        selection: the shared selection (``SELECTED_MODEL`` …) remembered for other pages.
        scope: where the id was looked for, for the warning ("in the catalog", "a version of claims-fraud").
        forget: query parameters dropped when the user picks another option.

    Returns:
        The picked id, or None while an unknown id from the URL waits for a pick.
    """
    param = _param(selection)
    if choice.unknown_link is not None:
        st.warning(f"The link asks for {param} {code(choice.unknown_link)}, which is not {inert(scope)}. Nothing is "
                   f"shown in its place: pick a {param} below.", icon=":material/link_off:")
    value = st.selectbox(label, list(choice.options), index=choice.index, key=key, placeholder=f"Pick a {param}",
                         on_change=_follow, args=(param, key, forget))
    if value is not None:
        select(selection, value)
        if st.query_params.get(param) != value:  # opened from the sidebar or another page: name what is shown
            st.query_params[param] = value
    return value
