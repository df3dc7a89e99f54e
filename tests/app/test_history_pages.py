"""The "as of" pickers of the Inventory and Model pages, and the Model page's timeline."""

from __future__ import annotations

import datetime as dt


def test_inventory_as_of_before_the_registry_existed_is_empty_and_now_matches_today(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="data.scientist@demo.countersign.dev").run()
    today = len(at.dataframe(key="inv.table").value)
    at.toggle(key="inv.as_of").set_value(True).run()
    assert not at.exception
    assert any("from the registry history" in c.value for c in at.caption)
    assert len(at.dataframe(key="inv.table").value) == today  # the default instant is now
    at.date_input(key="inv.as_of_date").set_value(dt.date(2020, 1, 1)).run()
    assert not at.exception
    assert any("No version matches" in i.value for i in at.info)


def test_model_page_shows_the_timeline_and_an_environment_as_of(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona="data.scientist@demo.countersign.dev").run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any('"lane"' in s for s in specs), "timeline chart missing"
    at.toggle(key="model.as_of").set_value(True).run()
    assert not at.exception
    texts = " ".join(m.value for m in at.markdown)
    assert "(lab-prod)" in texts and "since" in texts
