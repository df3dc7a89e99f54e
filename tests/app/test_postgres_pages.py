"""The portal on a PostgreSQL catalog: the demo moved over with ``catalog copy``, every page as a risk officer."""

from __future__ import annotations

from countersign_cli.main import main
from portal.pages import pages
from tests.app.test_pages import texts
from tests.backends import use_catalog_url


def test_every_page_renders_on_a_postgresql_catalog(demo_copy, postgres_server, app_factory) -> None:
    url = postgres_server.new_database()
    assert main(["catalog", "copy", "--workspace", str(demo_copy.root), "--to", url]) == 0
    use_catalog_url(demo_copy, url)
    demo_copy.catalog_path.unlink()  # nothing may still read the DuckDB file
    at = app_factory(demo_copy.root, persona="risk.officer@demo.countersign.dev").run()
    assert not at.exception, at.exception
    assert "claims-fraud" in " ".join(str(df.value.to_dict()) for df in at.dataframe)  # the inventory, from PostgreSQL
    for page in pages():
        at.switch_page(page.path).run()
        assert not at.exception, (page.path, at.exception)
        assert texts(at).strip(), f"{page.path} drew nothing"
