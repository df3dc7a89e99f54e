"""Issue 35, finding 7: Inventory and the Model page say why a version is blocked, as `countersign why` does."""

from __future__ import annotations

from governance.catalog import Catalog
from governance.config import load_settings
from governance.context import Context
from governance.identity import identity_for
from governance.usecases.why import why_blocked

D = "demo.countersign.dev"
REPAIR = "lab-prod:repair-cost:2"  # serving in prod, never approved: blocked


def texts(at) -> str:
    return " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.error, *at.warning, *at.info])


def test_the_model_page_says_why_the_version_is_blocked(demo_workspace, app_factory) -> None:
    settings = load_settings(demo_workspace)
    oracle = why_blocked(Context(demo_workspace, settings, Catalog(demo_workspace.catalog_path),
                                 identity_for(settings, f"data.scientist@{D}", source="demo")), REPAIR)
    at = app_factory(demo_workspace.root, persona=f"data.scientist@{D}").run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("repair-cost").run()
    at.selectbox(key="model.version").set_value(REPAIR).run()
    assert not at.exception, at.exception
    assert [e.label for e in at.expander if e.label.startswith("Why is this blocked")]
    shown = texts(at).replace("\\", "")  # registry text is shown inert: markdown escapes dropped for the comparison
    assert oracle.blocked and all(b.sentence in shown and b.clears in shown for b in oracle.blockers)
    assert f"countersign why {REPAIR}" in shown


def test_the_inventory_row_detail_says_why(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=f"data.scientist@{D}").run()
    rows = list(at.dataframe(key="inv.table").value["version_id"])
    at.session_state["inv.table"] = {"selection": {"rows": [rows.index(REPAIR)], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert f"Selected **{REPAIR}**" in texts(at) or REPAIR in texts(at)
    assert [e.label for e in at.expander if e.label.startswith("Why is this blocked")]
    assert "unapproved deployment" in texts(at)


def test_the_inventory_names_the_tier_that_governs_each_model(demo_copy, app_factory) -> None:
    """Issue 35, finding 11: the Inventory's risk tier said None where the Model page said medium."""
    from governance.policy import model_tier

    cfg = demo_copy.config_path  # neither the configuration nor the registry names repair-cost's tier
    cfg.write_text(cfg.read_text().replace('[models.repair-cost]\nrisk_tier = "low"\n', "[models.repair-cost]\n"))
    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    with catalog.transaction() as con:
        con.execute("UPDATE models SET risk_tier = NULL WHERE name = 'repair-cost'")
    at = app_factory(demo_copy.root, persona=f"data.scientist@{D}").run()
    table = at.dataframe(key="inv.table").value
    for model, shown in zip(table["model"], table["risk_tier"], strict=True):
        governing = model_tier(catalog, settings, model)[0]  # oracle: what the gates and the Model page use
        assert shown in (governing, f"{governing} (default)"), (model, shown)
    assert f"{settings.policy.default_tier} (default)" in set(table["risk_tier"])
