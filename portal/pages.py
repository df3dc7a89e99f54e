"""The page table: every page of the portal, in navigation order; ``app.py`` routes over it.

A page is one file under ``app_pages/`` (read widgets → call one use case of ``governance.usecases`` → render) and
one line here; its registry name is its URL path (``/requests``). Plugins add pages with :func:`register`, exactly as
the built-ins below are added. The folder is not called ``pages/``: Streamlit would take that for an old-style
multipage app and run its files without ``app.py`` (sign-in, roles) until some session declared ``st.navigation``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.registry import Registry


@dataclass(frozen=True)
class PageSpec:
    """One entry of the page table: its script (relative to ``app.py``), title, icon and navigation section."""

    path: str
    title: str
    icon: str
    section: str
    default: bool = False


REGISTRY: Registry[PageSpec] = Registry("page")
for _name, _entry in (
    ("inventory", PageSpec("app_pages/inventory.py", "Inventory", ":material/inventory_2:", "Models", default=True)),
    ("model", PageSpec("app_pages/model.py", "Model", ":material/account_tree:", "Models")),
    ("review", PageSpec("app_pages/review.py", "Review", ":material/query_stats:", "Models")),
    ("compare", PageSpec("app_pages/compare.py", "Compare", ":material/compare_arrows:", "Models")),
    ("requests", PageSpec("app_pages/requests.py", "Requests", ":material/approval:", "Sign-off")),
    ("acceptances", PageSpec("app_pages/acceptances.py", "Risk acceptances", ":material/gpp_maybe:", "Sign-off")),
    ("export", PageSpec("app_pages/export.py", "Export", ":material/picture_as_pdf:", "Sign-off")),
    ("audit", PageSpec("app_pages/audit.py", "Audit", ":material/verified:", "Sign-off")),
    ("oversight", PageSpec("app_pages/oversight.py", "Oversight", ":material/event_upcoming:", "Sign-off")),
    ("accounts", PageSpec("app_pages/accounts.py", "Accounts", ":material/cloud_sync:", "Admin")),
):
    REGISTRY.register(_name, _entry)


def register(name: str, spec: PageSpec, *, replace: bool = False) -> PageSpec:
    """Add page ``name`` (its URL path) to the navigation; refuse to shadow a page silently."""
    REGISTRY.register(name, spec, replace=replace)
    return spec


def pages() -> tuple[PageSpec, ...]:
    """Every registered page, in navigation order."""
    return tuple(REGISTRY.values())


def __getattr__(name: str) -> tuple[PageSpec, ...]:
    # PAGES: the page table as it stands now (plugins may register pages after import), read when asked for
    if name == "PAGES":
        return pages()
    raise AttributeError(name)
