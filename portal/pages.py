"""The page table: every page of the portal, in navigation order (app.py routes over it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """One entry of the page table."""

    path: str
    title: str
    icon: str
    section: str
    default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/inventory.py", "Inventory", ":material/inventory_2:", "Models", default=True),
    PageSpec("pages/model.py", "Model", ":material/account_tree:", "Models"),
    PageSpec("pages/review.py", "Review", ":material/query_stats:", "Models"),
    PageSpec("pages/compare.py", "Compare", ":material/compare_arrows:", "Models"),
    PageSpec("pages/requests.py", "Requests", ":material/approval:", "Sign-off"),
    PageSpec("pages/acceptances.py", "Risk acceptances", ":material/gpp_maybe:", "Sign-off"),
    PageSpec("pages/export.py", "Export", ":material/picture_as_pdf:", "Sign-off"),
    PageSpec("pages/audit.py", "Audit", ":material/verified:", "Sign-off"),
    PageSpec("pages/oversight.py", "Oversight", ":material/event_upcoming:", "Sign-off"),
    PageSpec("pages/accounts.py", "Accounts", ":material/cloud_sync:", "Admin"),
)
