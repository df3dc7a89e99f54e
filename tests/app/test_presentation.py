"""Presentation a risk officer reads without a developer: human headers, readable details, one ledger entry whole."""

from __future__ import annotations

import json
import re

import pytest

from governance.catalog import Catalog
from governance.promotion import list_requests
from portal.pages import pages

D = "demo.countersign.dev"
RISK = f"risk.officer@{D}"
SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
RAW = {"seq", "hash", "payload", "subject", "actor", "action", "status", "model", "version", "owner", "account",
       "environment"}


def headers(table) -> list[str]:
    """The headers a person sees on a rendered dataframe: each shown column's configured label, else its name."""
    config = json.loads(table.proto.columns or "{}")
    value = table.value
    shown = list(table.proto.column_order) or [str(c) for c in value.columns]
    out = []
    for column in shown:
        conf = config.get(column) or config.get(f"_pos:{column}") or {}
        if conf.get("hidden"):
            continue
        out.append(conf.get("label") or column)
    return out


def table_headed(at, first: str):
    """The rendered dataframe whose first header is ``first``."""
    found = [t for t in at.dataframe if headers(t)[:1] == [first]]
    assert found, (first, [headers(t)[:3] for t in at.dataframe])
    return found[0]


def raw_headers(at) -> list[tuple[str, str]]:
    return [(str(i), h) for i, t in enumerate(at.dataframe) for h in headers(t)
            if SNAKE.match(h) or h in RAW]


def test_every_table_of_every_page_has_human_headers(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    assert at.dataframe, "the Inventory draws its table"
    seen = 0
    for page in pages():
        at.switch_page(page.path).run()
        assert not at.exception, (page.path, at.exception)
        assert not raw_headers(at), (page.path, raw_headers(at))
        seen += len(at.dataframe)
    assert seen >= 6


def test_model_and_audit_tables_have_human_headers(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    at.selectbox(key="model.version").set_value("lab-prod:claims-fraud:2").run()
    assert not at.exception and not raw_headers(at), raw_headers(at)
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception and not raw_headers(at), raw_headers(at)
    assert headers(table_headed(at, "Entry"))[:2] == ["Entry", "Recorded (UTC)"]


def test_requests_table_shows_from_beside_to(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    at.switch_page("app_pages/requests.py").run()
    table = at.dataframe[0]
    shown = headers(table)
    assert shown[shown.index("From") + 1] == "To"
    assert "Approvals required" in shown and not raw_headers(at), raw_headers(at)
    queue = list_requests(Catalog(demo_workspace.catalog_path))
    catalog = Catalog(demo_workspace.catalog_path)
    for row in table.value.head(5).itertuples():
        assert row.from_env == catalog.version(row.version_id).environment
    assert len(table.value) == len(queue)


def test_model_details_are_a_field_value_table_with_the_raw_json_aside(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    at.selectbox(key="model.version").set_value("lab-prod:claims-fraud:2").run()
    details = table_headed(at, "Field")
    assert headers(details) == ["Field", "Value"]
    fields = dict(zip(details.value["field"], details.value["value"], strict=True))
    assert fields["Version id"] == "lab-prod:claims-fraud:2"
    assert fields["Environment"] == "prod"
    metrics = {k: v for k, v in fields.items() if k.startswith("Metric: ")}
    assert metrics and all(re.fullmatch(r"-?\d+\.\d{3}", v) for v in metrics.values()), metrics
    assert "Raw JSON" in [e.label for e in at.expander]
    charts = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any("strokeWidth" in spec and "datum.serving" in spec for spec in charts), "serving version not marked"
    assert "Outlined bars, labelled (serving)" in "\n".join(c.value for c in at.caption)
    assert any(j.value and "lab-prod:claims-fraud:2" in str(j.value) for j in at.json)


def test_a_promoted_copy_shows_the_number_it_came_from(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    df = at.dataframe[0].value.set_index("version_id")
    row = df.loc["lab-prod:claims-fraud:2"]
    source = Catalog(demo_workspace.catalog_path).version(row["source_version_id"])
    assert row["version_label"] == f"{row['version']} (from {source.environment} v{source.version})"
    assert "version_label" in at.dataframe[0].proto.column_order
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    assert f"(from {source.environment} v{source.version})" in "\n".join(m.value for m in at.markdown)


def test_owner_column_is_wide_enough(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    table = at.dataframe[0]
    config = json.loads(table.proto.columns)
    longest = table.value["owner"].dropna().str.len().max()
    assert config["owner"].get("width", 0) >= 7 * longest


def test_audit_opens_one_entry_in_full_and_filters_by_model_and_dates(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    at.switch_page("app_pages/audit.py").run()
    total = len(table_headed(at, "Entry").value)
    at.selectbox(key="audit.model").set_value("credit-approval").run()
    narrowed = table_headed(at, "Entry").value
    assert 0 < len(narrowed) < total
    seq = int(narrowed["seq"].iloc[0])
    at.selectbox(key="audit.entry").set_value(seq).run()
    assert not at.exception
    detail = at.table[0].value.set_index("Field")["Value"]
    row = narrowed.set_index("seq").loc[seq]
    hashes = [c.value for c in at.code]  # each hash a wrapping code line: a table cell cut it off
    assert detail["Entry"] == str(seq) and hashes[0] == row["hash"]
    assert len(hashes[1]) == len(row["hash"])
    assert at.json[-1].value  # the full payload
    day = narrowed["recorded_at"].max().date()
    at.date_input(key="audit.days").set_value((day, day)).run()
    on_day = table_headed(at, "Entry").value
    assert len(on_day) and {d.date() for d in on_day["recorded_at"]} == {day}


@pytest.mark.parametrize("column, value, shown", [("auc", 0.912345, "%.3f"), ("Total (EUR)", 12.3456, "%.2f"),
                                                   ("drift share %", 12.345, "%.1f%%")])
def test_numbers_round_to_what_they_mean(column, value, shown) -> None:
    import pandas as pd

    from portal.tables import table_config

    config = table_config(pd.DataFrame({column: [value]}))
    assert config[column]["type_config"]["format"] == shown


def test_headers_turn_code_names_into_words_and_leave_values_alone() -> None:
    from portal.tables import header

    assert header("approvals_required") == "Approvals required"
    assert header("to_env") == "To" and header("version_id") == "Version id" and header("created_at") == "Created"
    assert header("days left") == "Days left"
    assert header("lab-dev:claims-fraud:4") == "lab-dev:claims-fraud:4"


# -- issue 35, finding 12: every text column as wide as its longest value (no "⚠ unap…", "never revie…") ----------

NAMED_WIDTHS_ALLOWED = {"large"}  # a page may give a free-text column the widest named width; it wraps on hover


def narrow_columns(at) -> list[tuple[str, str, object, int]]:
    """(page table, column, configured width, longest value) of each shown text column too narrow for its text."""
    out = []
    for i, table in enumerate(at.dataframe):
        config = json.loads(table.proto.columns or "{}")
        frame = table.value
        shown = list(table.proto.column_order) or [str(c) for c in frame.columns]
        for column in shown:
            conf = config.get(column) or {}
            kind = (conf.get("type_config") or {}).get("type")
            if conf.get("hidden") or column not in frame or frame[column].dtype != object or kind not in (
                    None, "text", "list"):
                continue  # numbers and dates format to a known width
            if not frame[column].map(lambda v: isinstance(v, str)).all():
                continue  # dates, lists: their column types size them
            longest = int(frame[column].map(len).max() or 0)
            label = conf.get("label") or column
            need = min(7 * max(longest, len(label)), 560)
            width = conf.get("width")
            if width in NAMED_WIDTHS_ALLOWED or column == "hash":  # the full hash is one click away (the entry)
                continue
            if not isinstance(width, int) or width < need:
                out.append((f"{i}:{headers(table)[:2]}", column, width, longest))
    return out


def test_every_text_column_of_every_page_fits_its_longest_value(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=RISK).run()
    narrow = []
    for page in pages():
        at.switch_page(page.path).run()
        assert not at.exception, (page.path, at.exception)
        narrow += [(page.path, *n) for n in narrow_columns(at)]
    assert not narrow, narrow


def test_a_registry_card_with_empty_fields_reads_without_none(demo_copy, app_factory) -> None:
    """Issue 35, finding 11: MLflow and ZenML cards carry empty fields (``None``) and nested values."""
    import duckdb

    from tests.app.shown import plain

    con = duckdb.connect(str(demo_copy.catalog_path))
    card_id = con.execute("SELECT card_id FROM model_cards WHERE model = 'claims-fraud' "
                          "ORDER BY updated_at DESC NULLS LAST, card_id LIMIT 1").fetchone()[0]
    content = {"intended_use": "Flag claims for review", "limitations": None, "ethical_considerations": None,
               "evaluation_data": {"rows": 1200, "split": "2026-Q1"}}
    con.execute("UPDATE model_cards SET content = ?, status = NULL, updated_at = TIMESTAMP '2030-01-01' "
                "WHERE card_id = ?", [json.dumps(content), card_id])
    con.close()
    at = app_factory(demo_copy.root, persona=RISK).run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    assert not at.exception
    card = "\n".join(plain(m.value) for m in at.markdown if " — " in m.value) + "\n" + "\n".join(c.value for c in at.caption)
    assert "Flag claims for review" in card
    assert "None" not in card and "{" not in card, card[:600]
    assert "Evaluation data" in card and "rows 1,200" in card


def test_a_model_with_many_versions_lists_a_few_and_tables_the_rest(demo_copy, app_factory) -> None:
    """Issue 35, finding 14: the Model page listed 62 versions one per line."""
    import duckdb

    con = duckdb.connect(str(demo_copy.catalog_path))
    con.execute("INSERT INTO versions SELECT v.* REPLACE ('lab-dev:claims-fraud:' || (4 + r.i) AS version_id, "
                "4 + r.i AS version) FROM versions v, range(1, 59) r(i) WHERE v.version_id = 'lab-dev:claims-fraud:4'")
    con.close()
    at = app_factory(demo_copy.root, persona=RISK).run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    assert not at.exception, at.exception
    lines = [m.value for m in at.markdown if re.match(r"^v\d", m.value)]
    assert len(lines) <= 3 * 6, len(lines)  # a handful per environment, not 62 lines
    tables = [t.value for t in at.dataframe if "version" in t.value.columns]
    listed = {str(v) for t in tables for v in t["version"]}
    assert "62" in listed or any("v62" in x for x in lines), "the newest versions stay reachable"
    assert any(len(t) >= 50 for t in tables), "the rest are one compact table"


# -- issue 35, the header-mapping test extended: every table's cells and every chart legend, on every page --------

SCIENTIFIC = re.compile(r"\d\.?\d*e[+-]\d+")
CAMEL = re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]+)+$")  # PendingManualApproval, InService


def bad_cells(at) -> list[tuple[str, str, str]]:
    """(headers, column, value) of each shown cell reading None, raw JSON, scientific notation or a registry code."""
    out = []
    for table in at.dataframe:
        frame = table.value
        shown = list(table.proto.column_order) or [str(c) for c in frame.columns]
        for column in shown:
            if column not in frame or frame[column].dtype != object:
                continue
            for value in frame[column].head(200):
                text = str(value)
                if value is None or text in ("None", "nan") or text.startswith(("{\"", "[{")) or \
                        SCIENTIFIC.search(text) or CAMEL.match(text):
                    out.append((str(headers(table)[:2]), column, text[:60]))
    return out


def legend_fields(node: object) -> set[str]:
    """The fields a chart's legends list (colour and shape encodings whose legend is not switched off)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for channel in ("color", "shape"):
            enc = (node.get("encoding") or {}).get(channel)
            if isinstance(enc, dict) and enc.get("field") and enc.get("legend", {}) is not None:
                found.add(enc["field"])
        for value in node.values():
            found |= legend_fields(value)
    elif isinstance(node, list):
        for value in node:
            found |= legend_fields(value)
    return found


def chart_rows(chart) -> list[dict]:
    """Every data row a rendered chart draws: Streamlit moves the spec's datasets into the message as Arrow bytes."""
    import pyarrow as pa

    spec = json.loads(chart.proto.spec)
    rows = [r for rows in spec.get("datasets", {}).values() for r in rows]
    for dataset in [*chart.proto.datasets, *([chart.proto.data] if chart.proto.HasField("data") else [])]:
        raw = dataset.data.data if hasattr(dataset, "data") and hasattr(dataset.data, "data") else dataset.data
        if raw:
            rows += pa.ipc.open_stream(raw).read_all().to_pylist()
    return rows


def bad_legends(at) -> list[tuple[str, str]]:
    """(field, value) of each legend entry (colour or shape) of every chart that is a code rather than words."""
    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        rows = chart_rows(chart)
        fields = legend_fields(spec)
        for field in fields:
            for value in {str(r.get(field)) for r in rows if field in r}:
                if value == "None" or SNAKE.match(value) or CAMEL.match(value) or SCIENTIFIC.search(value):
                    out.append((field, value))
    return out


@pytest.mark.parametrize("persona", [RISK, f"data.scientist@{D}"])
def test_no_page_shows_none_json_exponents_or_codes_in_cells_or_legends(demo_workspace, app_factory,
                                                                         persona: str) -> None:
    at = app_factory(demo_workspace.root, persona=persona).run()
    found = []
    for page in pages():
        at.switch_page(page.path).run()
        assert not at.exception, (page.path, at.exception)
        found += [(page.path, *b) for b in bad_cells(at)] + [(page.path, "legend", *b) for b in bad_legends(at)]
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()  # the history chart and its legend
    found += [("model", *b) for b in bad_cells(at)] + [("model", "legend", *b) for b in bad_legends(at)]
    assert not found, sorted({(f[0], f[1], f[2], f[3][:40]) for f in found})[:60]
