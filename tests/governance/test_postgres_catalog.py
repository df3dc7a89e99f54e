"""PostgreSQL specifics: the URL setting, moving a DuckDB workspace over, and the translated SQL against DuckDB's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.errors import ConfigError, ConflictError
from countersign_cli.main import main
from governance import ledger
from governance.catalog import Catalog
from governance.catalog.transfer import copy_catalog
from governance.config import Workspace, load_settings, parse_settings


def test_a_password_in_the_catalog_url_is_refused_with_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"PGPASSWORD or ~/\.pgpass") as err:
        parse_settings({"catalog": {"url": "postgresql://portal:s3cret@db.bank/countersign"}})
    assert "s3cret" not in str(err.value)
    with pytest.raises(ConfigError, match=r"carries a 'password' query parameter"):
        parse_settings({"catalog": {"url": "postgresql://portal@db.bank/countersign?password=s3cret"}})
    with pytest.raises(ConfigError, match="postgresql://"):
        parse_settings({"catalog": {"url": "mysql://portal@db.bank/countersign"}})
    assert parse_settings({"catalog": {"url": "postgresql://portal@db.bank:5433/countersign"}}).catalog.url


def test_copy_moves_every_row_verifies_and_refuses_a_non_empty_target(demo_copy: Workspace, postgres_server,
                                                                      capsys) -> None:
    url = postgres_server.new_database()
    source = Catalog(demo_copy.catalog_path)
    assert main(["catalog", "copy", "--workspace", str(demo_copy.root), "--to", url]) == 0
    assert "the ledger verifies there" in capsys.readouterr().out
    target = Catalog(demo_copy.catalog_path, url=url)
    assert target.counts() == source.counts() and source.counts()["ledger"] > 0
    assert target.table_digest() == source.table_digest()  # the same content, value for value
    assert ledger.verify_unchecked(demo_copy, target).length == ledger.verify_unchecked(demo_copy, source).length
    with pytest.raises(ConflictError, match="already holds catalog data"):
        copy_catalog(source, target)


QUERIES = [  # DuckDB constructs the adapter translates, each with a result to compare between the engines
    "SELECT account, arg_max(watermark, (finished_at, sync_id)) AS w FROM sync_runs GROUP BY account ORDER BY account",
    "SELECT strftime(started_at, '%Y-%m-%dT%H:%M:%S.%f') AS t FROM sync_runs ORDER BY sync_id",
    "SELECT sync_id FROM sync_runs WHERE sync_id LIKE 's%' AND account = ? ORDER BY sync_id",
    "SELECT sync_id FROM sync_runs WHERE sync_id IN (SELECT unnest(?)) ORDER BY sync_id",
    "SELECT sync_id, coalesce(list_position(?, account), 999) AS p FROM sync_runs ORDER BY sync_id",
    "SELECT json_extract_string(counts, '$.n') AS n, ends_with(sync_id, '2') AS e FROM sync_runs ORDER BY sync_id",
    "SELECT count(*) FROM (SELECT sync_id FROM sync_runs WHERE contains(sync_id, '1'))",
]
PARAMS = [[], [], ["b"], [["s1", "s3"]], [["b", "a"]], [], []]


def test_translated_queries_answer_as_duckdb_does(tmp_path: Path, postgres_server) -> None:
    t0 = dt.datetime(2026, 5, 1, 12, 0, 0, 123456)
    rows = [("s1", "a", t0, t0, "w1", '{"n": 1}'), ("s2", "a", t0, t0 + dt.timedelta(1), None, '{"n": 2}'),
            ("s3", "b", t0, t0, "w3", None), ("s4", "a", t0, t0 - dt.timedelta(1), "w0", '{"n": "x"}')]
    answers = []
    for url in (None, postgres_server.new_database()):
        cat = Catalog(tmp_path / "c.duckdb", url=url)
        cat.migrate()
        with cat.transaction() as con:
            for r in rows:
                con.execute("INSERT INTO sync_runs (sync_id, account, started_at, finished_at, watermark, counts, "
                            "status) VALUES (?, ?, ?, ?, ?, ?, 'ok')", list(r))
        with cat.connect() as con:
            answers.append([con.execute(q, p).fetchall() for q, p in zip(QUERIES, PARAMS, strict=True)])
    duck, pg = answers
    assert duck[0] == [("a", "w1"), ("b", "w3")]  # the newest non-NULL watermark (s2's is NULL)
    assert duck[1][0] == ("2026-05-01T12:00:00.123456",)
    for q, d, p in zip(QUERIES, duck, pg, strict=True):
        assert [tuple(r) for r in p] == [tuple(r) for r in d], q


def test_settings_name_the_catalog_url_for_every_entry_point(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.config_path.write_text('[catalog]\nurl = "postgresql://portal@db.bank/countersign"\n', encoding="utf-8")
    assert load_settings(ws, {}).catalog.url == "postgresql://portal@db.bank/countersign"
