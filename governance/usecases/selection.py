"""Which id a picker shows: the one rule for every page's select box, applied before the use case runs.

A picker is asked for an id four ways, in this order: its own widget state (the user picked before), the URL
(``?version=…``, a copied link), a fallback the page knows (the model of a linked version), the selection made on
another page, and finally the use case's own default (``first``: e.g. the first version with evidence). An id in the
URL that is not among the options is never silently replaced by another: the choice then selects nothing and names
the unknown id, and the page says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Wanted:
    """What a picker is asked to show: its widget state, the URL's id, and the selection made on another page."""

    state: str | None = None
    link: str | None = None
    shared: str | None = None


@dataclass(frozen=True)
class Choice:
    """The options of a picker and the one it shows (``index`` None: nothing, the link names an unknown id)."""

    options: tuple[str, ...]
    index: int | None
    unknown_link: str | None = None

    @property
    def value(self) -> str | None:
        """The chosen id, or None."""
        return None if self.index is None else self.options[self.index]


def choose(options: Sequence[str], wanted: Wanted, *, fallback: str | None = None, first: str | None = None) -> Choice:
    """The choice among ``options`` for ``wanted`` (see the module docstring for the order)."""
    opts = tuple(options)
    if not opts:
        return Choice(opts, None, wanted.link if wanted.link is not None else None)
    if wanted.state in opts:  # drawn before on this page: the widget keeps its own value
        return Choice(opts, opts.index(wanted.state))
    if wanted.link is not None and wanted.link not in opts:
        return Choice(opts, None, wanted.link)
    target = wanted.link if wanted.link is not None else fallback or wanted.shared
    if target not in opts:
        target = first
    return Choice(opts, opts.index(target) if target in opts else 0)
