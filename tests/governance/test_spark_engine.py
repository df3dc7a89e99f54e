"""Drift and bias aggregates pushed down to Spark (local mode, Parquet written here) give DuckDB's numbers to 1e-9;
only aggregates come back; the Trino and Athena renderings of every aggregate statement parse and match golden files.

One SparkSession serves the whole test session (its JVM start is most of the cost)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, InputError
from governance.analytics import engines
from governance.analytics.bias import BiasConfig, bias_file, counts_sql, domain_sql
from governance.analytics.drift import DriftConfig, drift_files
from governance.analytics.drift.aggregates import (
    Col,
    distinct_sql,
    finite_stats_sql,
    histogram_sql,
    near_edges_sql,
    raw_sql,
    side_stats_sql,
    value_counts_sql,
)
from governance.analytics.engines import EngineChoice, SparkEngine, inline, render

GOLDEN = Path(__file__).parent / "golden" / "sql"
SPARK = EngineChoice("spark", master="local[2]", conf={
    "spark.sql.shuffle.partitions": "1", "spark.default.parallelism": "1", "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1", "spark.sql.adaptive.enabled": "false", "spark.driver.memory": "1g",
    # tiny queries: compiling whole-stage code costs more than it saves
    "spark.sql.codegen.wholeStage": "false",
})


@pytest.fixture(scope="session")
def spark() -> Any:
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    session = engines.spark_session(SPARK.master, SPARK.conf)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _frame(n: int, shifted: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    num = rng.normal(0.4 if shifted else 0.0, 1.0, n)
    with_nulls = rng.exponential(2.0, n)
    with_nulls[rng.random(n) < 0.1] = np.nan  # NaN in pandas → null in Parquet
    dirty = rng.normal(size=n)
    dirty[:3] = [np.inf, -np.inf, np.inf]
    cat = rng.choice(list("abcd"), n, p=[0.55, 0.15, 0.15, 0.15] if shifted else [0.25] * 4).astype(object)
    cat[rng.random(n) < 0.05] = None
    return pd.DataFrame({
        "num": num, "with_nulls": with_nulls, "dirty": dirty, "cat": cat,
        # 0.01 steps: >1,000 distinct values (histogram route) with values lying on Sturges edges
        "grid": np.round(rng.uniform(0, 14, n), 2), "ints": rng.integers(18, 90, n), "const": np.full(n, 7.0),
        "flag": rng.random(n) < (0.7 if shifted else 0.5), "few": rng.choice([1, 2, 3], n),
    })


def _parquet(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    path = folder / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    if name == "ref_large":  # NaN kept as NaN (not null) in one column: Spark and DuckDB must both drop it
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        dirty = table.column("dirty").to_numpy().copy()
        dirty[3] = np.nan
        table = table.set_column(table.column_names.index("dirty"), "dirty", pa.array(dirty, from_pandas=False))
        pq.write_table(table, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("spark-data")
    return {
        "ref_small": _parquet(d, "ref_small", _frame(600, False, 1)),  # ≤ 1,000 rows: exact K-S, chi-square, Z
        "cur_small": _parquet(d, "cur_small", _frame(500, True, 2)),
        "ref_large": _parquet(d, "ref_large", _frame(6000, False, 3)),  # Wasserstein / Jensen-Shannon, binned
        "cur_large": _parquet(d, "cur_large", _frame(5000, True, 4)),
    }


def _same(a: Any, b: Any, path: str = "") -> None:
    """``a`` equals ``b``: numbers to 1e-9 relative, everything else exactly."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool) and b is not None:
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _without_timing(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("seconds", "engine")}


CASES = {
    # exact K-S, chi-square and Z from value counts; nulls, a constant column
    "small": ("ref_small", "cur_small", DriftConfig(columns=("num", "with_nulls", "cat", "flag", "const", "few"))),
    # Wasserstein (with the shifted sums), K-S from the fine histogram (exact_max_rows below the data), NaN/±inf,
    # values on bin edges, PSI from value counts; a coarse grid so the bound bites
    "large": ("ref_large", "cur_large", DriftConfig(columns=("num", "dirty", "grid", "ints", "cat"),
                                                    exact_max_rows=2_000, hist_bins=256,
                                                    methods={"grid": "ks", "ints": "psi"})),
}


@pytest.fixture(scope="module")
def drift_pairs(spark: Any, files: dict[str, Path]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for name, (ref, cur, config) in CASES.items():
        out[name] = (drift_files(files[ref], files[cur], config),
                     drift_files(str(files[ref]), str(files[cur]), config, engine=SPARK))
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_drift_on_spark_equals_duckdb(drift_pairs: dict[str, tuple[Any, Any]], case: str) -> None:
    duck, sp = drift_pairs[case]
    assert duck.engine["name"] == "duckdb" and sp.engine["name"] == "spark"
    _same(_without_timing(duck.to_dict()), _without_timing(sp.to_dict()))
    # the same neutral statements ran on both engines, so the query hash is the same
    assert sp.engine["query_hash"] == duck.engine["query_hash"]
    methods = {c.column: c.method for c in duck.columns}
    assert set(methods) == set(CASES[case][2].columns or ()) and not duck.skipped
    if case == "small":
        assert methods["num"] == "ks" and methods["cat"] == "chisquare" and methods["flag"] == "z"
        assert all(c.exact for c in duck.columns) and duck.column("with_nulls").nulls_reference > 0
    else:
        assert methods["num"] == "wasserstein" and methods["grid"] == "ks" and not duck.column("grid").exact
        assert duck.column("dirty").n_reference == 6000 - 4  # two inf, one -inf and the NaN
        # all four are missing values under the data contract, as NULL would be (they were not counted before,
        # so NaN-stored and NULL-stored files disagreed on the count of missing values)
        assert duck.column("dirty").nulls_reference == 4
    assert duck.drifted_columns == sp.drifted_columns and "num" in duck.drifted_columns


@pytest.mark.parametrize(("n_ref", "n_cur", "exact_max_rows"), [(200, 180, 1_000_000), (3000, 2500, 1_000_000),
                                                              (3000, 2500, 0)], ids=["ks", "wasserstein", "binned"])
def test_nan_stored_parquet_on_spark_equals_null_stored_on_duckdb(spark: Any, tmp_path: Path, n_ref: int, n_cur: int,
                                                                  exact_max_rows: int) -> None:
    # the data contract on both engines: IEEE NaN in a Parquet file (as Spark itself writes it) is a missing value,
    # exactly as NULL is; on every route
    from tests.governance.test_data_contract import _pair, write_parquet

    ref, cur = _pair(n_ref, n_cur, seed=9)
    paths = {f"{side}_{stored}": write_parquet(tmp_path / f"{side}_{stored}.parquet", frame, nan_stored=stored == "nan")
             for side, frame in (("ref", ref), ("cur", cur)) for stored in ("nan", "null")}
    config = DriftConfig(exact_max_rows=exact_max_rows)
    sp = drift_files(str(paths["ref_nan"]), str(paths["cur_nan"]), config, engine=SPARK)
    duck = drift_files(paths["ref_null"], paths["cur_null"], config)
    _same(_without_timing(sp.to_dict()), _without_timing(duck.to_dict()))
    assert sp.column("x").n_reference == int(ref["x"].notna().sum())


def test_bias_and_index_columns_follow_the_data_contract_on_spark(spark: Any, tmp_path: Path) -> None:
    # a NaN label or score is missing (dropped), a NaN in a float attribute groups with NULL; pandas' index is not data
    from tests.governance.test_data_contract import _scored, write_parquet

    frame = _scored()
    nan = write_parquet(tmp_path / "nan.parquet", frame, nan_stored=True)
    null = write_parquet(tmp_path / "null.parquet", frame, nan_stored=False)
    config = BiasConfig(label="label", protected=("gender", "age"), score="score", threshold=0.5)
    sp, duck = bias_file(str(nan), config, engine=SPARK), bias_file(null, config)
    _same(_without_timing(sp.to_dict()), _without_timing(duck.to_dict()))
    assert sp.dropped_rows == 50 and "(missing)" in {g.group for g in sp.attribute("age").groups}

    import pyarrow as pa
    import pyarrow.parquet as pq

    indexed = tmp_path / "indexed.parquet"
    pq.write_table(pa.Table.from_pandas(frame.set_axis(frame.index * 3), preserve_index=True), indexed)
    info = SparkEngine(spark).load_table(indexed, "t")
    assert info.index_columns == ("__index_level_0__",) and "__index_level_0__" not in info.columns


def test_near_edge_values_are_rebinned_on_spark_too(drift_pairs: dict[str, tuple[Any, Any]],
                                                    files: dict[str, Path]) -> None:
    _, sp = drift_pairs["large"]
    near = [s for s in sp.engine["statements"] if " AS c, x FROM " in s and "(x BETWEEN CAST(" in s]
    assert near, "the data must put values on Sturges edges, or this test checks nothing"
    # oracle: numpy's own Sturges bins over the raw values
    ref, cur = (pd.read_parquet(files[k], columns=["grid"])["grid"].to_numpy() for k in ("ref_large", "cur_large"))
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    assert np.isin(edges[1:-1], np.concatenate([ref, cur])).any()
    chart = sp.column("grid").chart
    assert np.array_equal(chart["lower"], edges[:-1]) and np.array_equal(chart["upper"], edges[1:])
    assert np.allclose(chart["reference"], np.histogram(ref, edges)[0] / len(ref), rtol=0, atol=1e-15)
    assert np.allclose(chart["current"], np.histogram(cur, edges)[0] / len(cur), rtol=0, atol=1e-15)


def test_only_aggregates_come_back(drift_pairs: dict[str, tuple[Any, Any]], files: dict[str, Path]) -> None:
    _, sp = drift_pairs["large"]
    config = CASES["large"][2]
    n_rows = 6000 + 5000
    numeric = [c for c in sp.columns if c.column_type == "numeric"]
    categorical = [c for c in sp.columns if c.column_type == "categorical"]
    # per numeric column and side one histogram of at most hist_bins + Sturges bins + 1 keys (or value counts of
    # ≤ FEW_VALUES values), per categorical column its values; plus one-row statistics
    bound = 2 * len(numeric) * (config.hist_bins + 16 + 1) + 2 * len(categorical) * 5 + sp.engine["queries"]
    assert sp.engine["rows_returned"] <= bound < 2 * n_rows
    # one statement brings back the histograms (or value counts) of every column of a side at once
    assert sp.engine["max_rows"] <= len(numeric) * (config.hist_bins + 16 + 1) + len(categorical) * 5
    assert sp.engine["bytes_returned"] > 0


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(42)
    n = 3000
    gender = rng.choice(["F", "M", "X", None], n, p=[0.45, 0.45, 0.07, 0.03]).astype(object)
    gender[:40] = "Z"  # a group whose every row lacks a label: empty after dropping
    age = rng.choice(["18-30", "31-50", "51+"], n)
    x = rng.normal(size=n)
    label = (x + rng.normal(0, 0.8, n) > 0).astype(float)
    label[:40] = np.nan
    score = 1 / (1 + np.exp(-(1.5 * x - 0.6 * (gender == "F"))))
    region = np.where(np.arange(n) < 60, "north", "south")
    label[40:60] = 0.0  # 'north' has no positive label: its TPR is undefined
    frame = pd.DataFrame({"gender": gender, "age_band": age, "region": region, "label": label, "score": score,
                          "prediction": (score >= 0.5).astype(int)})
    path = tmp_path_factory.mktemp("spark-bias") / "scored.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("config", [
    BiasConfig(label="label", protected=("gender", "age_band", "region"), score="score", threshold=0.5),
    BiasConfig(label="label", protected=("gender", "region"), prediction="prediction", min_group_size=50),
], ids=["score", "prediction"])
def test_bias_on_spark_equals_duckdb(spark: Any, scored: Path, config: BiasConfig) -> None:
    duck = bias_file(scored, config)
    sp = bias_file(str(scored), config, engine=SPARK)
    _same(_without_timing(duck.to_dict()), _without_timing(sp.to_dict()))
    assert sp.engine["query_hash"] == duck.engine["query_hash"]
    groups = {g.group: g for g in sp.attribute("gender").groups}
    assert "Z" not in groups and "(missing)" in groups and duck.dropped_rows == sp.dropped_rows == 40
    assert {g.group: g.tpr for g in sp.attribute("region").groups}["north"] is None
    # groups × 4 counts: one row per combination of attribute values
    assert sp.engine["max_rows"] <= 5 * 3 * 2


def test_spark_reads_catalog_tables_and_refuses_other_files(spark: Any, files: dict[str, Path], tmp_path: Path) -> None:
    spark.read.parquet(str(files["ref_small"])).createOrReplaceTempView("monitoring_ref")
    engine = SparkEngine(spark)
    info = engine.load_table("monitoring_ref", "t")
    assert info.rows == 600 and info.columns["num"] == "DOUBLE" and info.columns["ints"] == "BIGINT"
    assert info.columns["cat"] == "VARCHAR" and info.columns["flag"] == "BOOLEAN"
    csv = tmp_path / "x.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(InputError, match="reads Parquet"):
        engine.load_table(csv, "t")
    with pytest.raises(InputError, match="no such file"):
        engine.load_table(tmp_path / "missing.parquet", "t")
    with pytest.raises(InputError, match="Spark could not read"):
        engine.load_table("no_such_table", "t")


def test_cli_drift_on_spark(spark: Any, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from countersign_cli.main import main

    args = ["drift", "--reference", str(files["ref_small"]), "--current", str(files["cur_small"]), "--json",
            "--columns", "num,cat"]
    assert main([*args, "--engine", "spark", "--show-sql", "trino"]) == 0
    sp = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    duck = json.loads(capsys.readouterr().out)
    assert sp["engine"]["name"] == "spark" and duck["engine"]["name"] == "duckdb"
    assert [c["score"] for c in sp["columns"]] == pytest.approx([c["score"] for c in duck["columns"]], rel=1e-9)
    assert sp["sql"]["dialect"] == "trino" and len(sp["sql"]["statements"]) == sp["engine"]["queries"]


# -- without a JVM ---------------------------------------------------------------------------------------------------


def test_missing_pyspark_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError, match=r"countersign\[spark\]"):
        engines.spark_session()


def test_missing_java_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="openjdk-17-jre-headless"):
        engines.spark_session()


def test_bad_spark_inputs_are_refused_before_the_jvm_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_session(*args: Any, **kw: Any) -> Any:
        raise AssertionError("a Spark session was started for input that cannot be read")

    monkeypatch.setattr(engines, "spark_session", no_session)
    csv = tmp_path / "ref.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(InputError, match=r"reads Parquet files and tables, not \.csv"):
        drift_files(str(csv), str(csv), engine=SPARK)
    with pytest.raises(InputError, match="no such file"):
        bias_file(str(tmp_path / "missing.parquet"), BiasConfig(label="y", protected=("g",), prediction="p"),
                  engine=SPARK)
    with pytest.raises(InputError, match="neither a Parquet path nor a table name"):
        drift_files("drop table; --", "t", engine=SPARK)
    with pytest.raises(InputError, match="not in-memory DataFrames"):
        drift_files(pd.DataFrame({"a": [1]}), "t", engine=SPARK)


def test_parameters_are_inlined_exactly() -> None:
    x = 0.1 + 0.2
    sql = inline("SELECT $a, $b, $c, $d", {"a": x, "b": 3, "c": "it's", "d": True})
    assert sql == f"SELECT CAST('{x!r}' AS DOUBLE), 3, 'it''s', TRUE"
    import duckdb

    assert duckdb.sql(inline("SELECT $a AS v", {"a": x})).fetchall()[0][0] == x
    with pytest.raises(KeyError):
        inline("SELECT $missing", {"a": 1})


def _statements() -> dict[str, str]:
    """Every aggregate statement drift and bias run, on example tables and columns, parameters inlined."""
    amount, segment = Col("amount", "DOUBLE", True), Col("segment name", "VARCHAR", False)
    age, ratio = Col("age", "BIGINT", True), Col("ratio", "DOUBLE", False)
    h = {"lo0": -3.25, "hi0": 3.25, "k0": 512.0 / 6.5, "lo1": 18.0, "hi1": 90.0, "k1": 64.0 / 72.0}
    return {
        "side_stats": side_stats_sql("ref", [amount, segment]),
        "distinct": distinct_sql("ref", [amount, age]),
        "finite_stats": finite_stats_sql("cur", [amount]),
        "present_values": raw_sql("ref", [amount, age]),
        "value_counts": value_counts_sql("ref", [(0, age), (1, segment), (2, ratio)]),
        "histogram": inline(histogram_sql("cur", [(0, amount), (1, age)]), h),
        "histogram_moments": inline(histogram_sql("ref", [(0, amount), (1, age)], moments=True), h),
        "near_edges": inline(near_edges_sql("ref", [(0, amount, 2)]),
                             {"a0_0": 0.1, "b0_0": 0.1000001, "a0_1": 0.7, "b0_1": 0.7000001}),
        "bias_domain": domain_sql("data", "label", 3),
        "bias_domain_float": domain_sql("data", "label", 3, 'CAST("label" AS DOUBLE) BETWEEN '
                                                            "-1.7976931348623157e308 AND 1.7976931348623157e308"),
        "bias_counts_score": inline(counts_sql(
            "data", ["gender", "age band"], 'CAST("label" AS DOUBLE) = $y', 'CAST("score" AS DOUBLE) >= $p',
            '"label" IS NOT NULL AND "score" IS NOT NULL'), {"y": 1.0, "p": 0.5}),
        "bias_counts_float_attribute": inline(counts_sql(
            "data", ["age"], 'CAST("label" AS DOUBLE) = $y', 'CAST("score" AS DOUBLE) >= $p',
            '"label" IS NOT NULL AND "score" IS NOT NULL',
            {"age": 'CAST("age" AS DOUBLE) BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308'}),
            {"y": 1.0, "p": 0.5}),
        "bias_counts_text": inline(counts_sql(
            "data", ["gender"], 'CAST("outcome" AS VARCHAR) = $y', 'CAST("predicted" AS VARCHAR) = $p',
            '"outcome" IS NOT NULL AND "predicted" IS NOT NULL'), {"y": "approved", "p": "approved"}),
        "bias_counts_boolean": inline(counts_sql(
            "data", ["gender"], '"hired" = $y', '"predicted" = $p',
            '"hired" IS NOT NULL AND "predicted" IS NOT NULL'), {"y": True, "p": True}),
    }


@pytest.mark.parametrize("dialect", ["trino", "athena", "spark"])
def test_renderings_parse_and_match_golden_files(dialect: str) -> None:
    import sqlglot

    for name, sql in _statements().items():
        rendered = render(sql, dialect)
        sqlglot.parse_one(rendered, read=dialect)  # raises on a rendering the dialect cannot read back
        golden = GOLDEN / dialect / f"{name}.sql"
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(rendered + "\n")
        assert golden.read_text() == rendered + "\n", f"{dialect}/{name}: rendering changed (UPDATE_GOLDEN=1)"
        assert "::" not in rendered and "isfinite" not in rendered.lower() and "FILTER" not in rendered


def test_engine_settings_come_from_the_workspace_and_flags_win() -> None:
    from governance.config import parse_settings

    settings = parse_settings({"engines": {"default": "spark", "spark": {
        "master": "spark://h:7077", "conf": {"spark.sql.shuffle.partitions": "4"}}}})
    assert settings.engines.names == ("duckdb", "spark")
    choice = engines.engine_choice(settings.engines)
    assert choice == EngineChoice("spark", "spark://h:7077", {"spark.sql.shuffle.partitions": "4"})
    flagged = engines.engine_choice(settings.engines, "spark", master="local[1]", conf={"spark.executor.cores": "1"})
    assert flagged.master == "local[1]" and dict(flagged.conf) == {"spark.sql.shuffle.partitions": "4",
                                                                   "spark.executor.cores": "1"}
    assert engines.engine_choice(settings.engines, "duckdb").name == "duckdb"
    assert engines.engine_choice(None).name == "duckdb"
    with pytest.raises(ConfigError, match=r"engines.default: 'spark' is not a configured engine"):
        parse_settings({"engines": {"default": "spark"}})
    with pytest.raises(ConfigError, match="Trino and Athena"):
        EngineChoice("trino")


def test_review_on_spark_stores_the_same_evidence_and_records_the_engine(spark: Any, demo_workspace: Any,
                                                                          tmp_path: Path) -> None:
    import shutil

    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.evidence import review_version
    from governance.identity import identity_for

    vid = "lab-prod:claims-fraud:2"
    stored = {}
    for name, choice in (("duckdb", None), ("spark", SPARK)):
        ws = Workspace(tmp_path / name)
        shutil.copytree(demo_workspace.root, ws.root)
        settings = load_settings(ws)
        catalog = Catalog(ws.catalog_path)
        catalog.migrate()
        who = identity_for(settings, "risk.officer@demo.countersign.dev", source="cli")
        result = review_version(ws, settings, catalog, vid, actor=who, kinds=("drift", "bias"), engine=choice)
        assert {i.status for i in result.items.values()} == {"computed"}, result.items
        stored[name] = {k: i.evidence for k, i in result.items.items()}
    for kind in ("drift", "bias"):
        duck, sp = stored["duckdb"][kind], stored["spark"][kind]
        assert duck.evidence_id == sp.evidence_id  # the engine is not part of the key: the numbers are the same
        assert duck.inputs["engine"]["name"] == "duckdb" and sp.inputs["engine"]["name"] == "spark"
        assert duck.inputs["engine"]["query_hash"] == sp.inputs["engine"]["query_hash"]
        _same(_without_timing(duck.result), _without_timing(sp.result))
        assert duck.summary == sp.summary
