"""Where the aggregate SQL runs: DuckDB in this process (the default), or Spark where large monitoring data lives.

Drift and bias reduce their inputs to aggregates (per-side statistics, value counts, histogram counts, confusion
counts per group) with plain SELECTs written once in DuckDB's SQL. An :class:`Engine` runs one such SELECT and hands
back its columns; it counts the rows and bytes that came back, and hashes the statements it ran, so evidence can say
which engine computed it and with which queries. The metrics are then computed from the aggregates in Python, the
same way whatever the engine.

* :class:`DuckDBEngine` wraps an analysis connection (:mod:`governance.analytics.io`) and runs the SQL as it is.
* :class:`SparkEngine` inlines the parameters as literals, transpiles the statement to Spark SQL with SQLGlot
  (cached per statement text) and collects the result through Arrow. Its tables are catalog tables or Parquet
  paths registered as temporary views (:meth:`SparkEngine.load_table`).
* :func:`render` gives any statement in another dialect (``trino``, ``athena``, ``spark``): Trino and Athena are
  rendered only; no Trino or Athena client runs here.

Parameters are written ``$name`` in the neutral SQL. Floats are inlined as ``CAST('<repr>' AS DOUBLE)``: every
engine parses the shortest round-trip text back into the very same double.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from core.errors import ConfigError, InputError
from core.extras import require_extra
from governance.analytics import contract
from governance.analytics.io import FORMATS, TableInfo, first_line, is_frame

if TYPE_CHECKING:
    import pandas as pd

    from governance.config import EnginesConfig

DIALECTS = ("spark", "trino", "athena")
JAVA_PACKAGE = "openjdk-17-jre-headless"
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


@dataclass
class EngineStats:
    """What one engine ran and what came back: statements (neutral SQL, parameters inlined), rows and bytes."""

    statements: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    max_rows: int = 0  # the largest single result

    def record(self, statement: str, table: pa.Table) -> None:
        self.statements.append(statement)
        self.rows += table.num_rows
        self.bytes += table.nbytes
        self.max_rows = max(self.max_rows, table.num_rows)

    @property
    def query_hash(self) -> str:
        """sha256 over the statements in the order they ran (the same for every engine on the same data)."""
        return hashlib.sha256("\n;\n".join(self.statements).encode()).hexdigest()


class Engine(Protocol):
    """Runs one SELECT written in DuckDB's SQL and returns its result; counts what came back."""

    name: str
    stats: EngineStats

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The result of ``sql`` (``$name`` parameters from ``params``) as an Arrow table."""
        ...


def inline(sql: str, params: Mapping[str, Any] | None) -> str:
    """``sql`` with each ``$name`` replaced by the literal of ``params[name]`` (exact for floats)."""
    if not params:
        return sql

    def literal(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            raise KeyError(f"no value for parameter ${name}")
        return _literal(params[name])

    return _PARAM.sub(literal, sql)


def _literal(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"cannot inline the non-finite number {v!r}")
        return f"CAST('{v!r}' AS DOUBLE)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot inline a {type(value).__name__} parameter")


@lru_cache(maxsize=4096)
def render(sql: str, dialect: str) -> str:
    """``sql`` (DuckDB's dialect, parameters inlined) rewritten by SQLGlot for ``dialect`` (spark, trino, athena)."""
    if dialect not in DIALECTS:
        raise ConfigError(f"unknown SQL dialect {dialect!r} (known: {', '.join(DIALECTS)})")
    import sqlglot  # a run-time dependency, imported when first needed (countersign --help stays fast)

    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def columns(engine: Engine, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """The result of ``sql`` as numpy arrays by column name (text as object arrays)."""
    table = engine.arrow(sql, params)
    return {name: to_numpy(table.column(i)) for i, name in enumerate(table.column_names)}


def to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """An Arrow column as a numpy array: numbers as their dtype (a NULL as NaN, which makes integers floats), text
    and anything else as an object array (NULL as None).

    pyarrow's own ``to_numpy`` imports pandas on first use (half a second of CPU and more memory); the columns the
    aggregates return are plain numbers or text, read straight from their Arrow buffers instead.
    """
    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return np.array(column.to_pylist(), dtype=object)
    dtype = np.dtype(t.to_pandas_dtype())
    parts = [np.frombuffer(a.buffers()[1], dtype=dtype, count=a.offset + len(a))[a.offset:] if len(a) else
             np.empty(0, dtype) for a in column.chunks] or [np.empty(0, dtype)]
    values = np.concatenate(parts) if len(parts) != 1 else parts[0]
    if not column.null_count:
        return values
    valid = np.concatenate([_valid(a) for a in column.chunks])  # null_count > 0: at least one chunk
    out = values.astype(float)
    out[~valid] = np.nan
    return out


def _valid(a: pa.Array) -> np.ndarray:
    """Which entries of ``a`` are not NULL (its validity bitmap, least significant bit first)."""
    bitmap = a.buffers()[0]
    if bitmap is None:
        return np.ones(len(a), dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[a.offset:a.offset + len(a)].astype(bool)


def rows(engine: Engine, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The result of ``sql`` as Python tuples (NULL is None)."""
    table = engine.arrow(sql, params)
    return list(zip(*(c.to_pylist() for c in table.columns), strict=True)) if table.num_columns else []


class DuckDBEngine:
    """The aggregate SQL on an in-process DuckDB connection, as written."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.stats = EngineStats()

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run ``sql`` with DuckDB's own parameter binding."""
        table = self.con.sql(sql, params=dict(params) if params else None).to_arrow_table()
        self.stats.record(inline(sql, params), table)
        return table


def as_engine(con: duckdb.DuckDBPyConnection | Engine) -> Engine:
    """``con`` itself when it is an engine, else a :class:`DuckDBEngine` around the connection."""
    return DuckDBEngine(con) if isinstance(con, duckdb.DuckDBPyConnection) else con


# -- Spark -------------------------------------------------------------------------------------------------------

# Spark's types under the names the rest of analytics reads (TableInfo.is_numeric / is_integer speak DuckDB)
_SPARK_TYPES = {
    "ByteType": "TINYINT", "ShortType": "SMALLINT", "IntegerType": "INTEGER", "LongType": "BIGINT",
    "FloatType": "FLOAT", "DoubleType": "DOUBLE", "StringType": "VARCHAR", "CharType": "VARCHAR",
    "VarcharType": "VARCHAR", "BooleanType": "BOOLEAN", "DateType": "DATE", "TimestampType": "TIMESTAMP WITH TIME ZONE",
    "TimestampNTZType": "TIMESTAMP", "BinaryType": "BLOB", "NullType": "NULL",
}


def spark_type(data_type: Any) -> str:
    """The DuckDB name of a Spark SQL data type (``DECIMAL(p,s)`` kept; nested types by their Spark name)."""
    kind = type(data_type).__name__
    if kind == "DecimalType":
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    return _SPARK_TYPES.get(kind, data_type.simpleString().upper())


def spark_session(master: str = "local[2]", conf: Mapping[str, str] | None = None, app_name: str = "countersign") -> Any:
    """A Spark session (the running one when there is one): ``pyspark`` from the ``spark`` extra, Java from Debian.

    Raises:
        ConfigError: pyspark is not installed, or no Java runtime is found.
    """
    sql = require_extra("pyspark.sql", extra="spark")
    java_home = os.environ.get("JAVA_HOME")  # read where Spark itself reads it: at the engine's edge
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        raise ConfigError(f"the Spark engine needs a Java runtime and none was found: apt-get install {JAVA_PACKAGE} "
                          "(or set JAVA_HOME)")
    builder = sql.SparkSession.builder.master(master).appName(app_name)
    for key, value in {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", **dict(conf or {})}.items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()


def spark_source(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is a path (True) or a table name (False) Spark can read; raise :class:`InputError` for
    anything else (CSV/Arrow files, names that are not ``db.table``)."""
    text = str(source)
    is_path = isinstance(source, os.PathLike) or "/" in text or text.lower().endswith((".parquet", ".pq"))
    if not is_path and not _TABLE_NAME.match(text):
        raise InputError(f"{text!r} is neither a Parquet path nor a table name (db.table)")
    other = [s for s, fmt in FORMATS.items() if fmt != "parquet" and text.lower().endswith(s)]
    if other:
        raise InputError(f"{text}: the Spark engine reads Parquet files and tables, not {other[0]} files; "
                         "convert it to Parquet or use the DuckDB engine")
    if is_path and "://" not in text and not Path(text).exists():
        raise InputError(f"{text}: no such file or folder")
    return is_path


class SparkEngine:
    """The aggregate SQL transpiled to Spark SQL and run by a Spark session; only aggregates are collected."""

    name = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.stats = EngineStats()

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Inline the parameters, transpile, run, collect through Arrow."""
        neutral = inline(sql, params)
        table = self.spark.sql(render(neutral, "spark")).toArrow()
        self.stats.record(neutral, table)
        return table

    def load_table(self, source: str | os.PathLike[str], name: str) -> TableInfo:
        """Register a catalog table or a Parquet path (file, folder, ``s3a://…``) as temporary view ``name``.

        Raises:
            InputError: the path or table does not exist or cannot be read as Parquet.
        """
        text = str(source)
        is_path = spark_source(source)
        local = Path(text) if is_path and "://" not in text else None
        if local is not None and local.is_file():  # the names as stored: Spark may refuse or rename repeated ones
            contract.refuse_duplicates(contract.parquet_names(local) or (), text)
        try:
            frame = self.spark.read.parquet(text) if is_path else self.spark.table(text)
            frame.createOrReplaceTempView(name)
        except Exception as exc:  # py4j/Spark analysis errors: say what could not be read, in one line
            raise InputError(f"{text}: Spark could not read it ({first_line(exc)}); give a table name or a "
                             "Parquet path") from None
        names = [f.name for f in frame.schema.fields]
        contract.refuse_duplicates(names, text)
        types = {f.name: spark_type(f.dataType) for f in frame.schema.fields}
        declared = contract.parquet_index_columns(local) if local is not None else set()
        index = contract.index_columns(names, names, declared)
        # not one of the aggregates: kept out of the statements and the query hash, as DuckDB's loading is
        return TableInfo(name=name, source=text, rows=int(frame.count()),
                         columns={c: t for c, t in types.items() if c not in index}, index_columns=index)


ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class EngineChoice:
    """Which engine runs the aggregates: ``duckdb`` (default) or ``spark`` with its master URL and conf."""

    name: str = "duckdb"
    master: str = "local[2]"
    conf: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"unknown analytics engine {self.name!r} (known: {', '.join(ENGINES)}; Trino and Athena "
                              "are SQL renderings only)")


def engine_choice(
    engines: EnginesConfig | None, name: str | None = None, *, master: str | None = None,
    conf: Mapping[str, str] | None = None,
) -> EngineChoice:
    """The engine to use: ``name`` (default: the workspace's ``[engines] default``), with the workspace's Spark
    settings, overridden by ``master`` and ``conf`` (command-line flags win over the file)."""
    name = name or (engines.default if engines is not None else "duckdb")
    if name == "duckdb":
        return EngineChoice()
    from governance.config import SparkSettings  # the settings models load only when Spark is asked for

    spark = (engines.spark if engines is not None else None) or SparkSettings()
    return EngineChoice(name=name, master=master or spark.master, conf={**spark.conf, **dict(conf or {})})


@contextmanager
def opened_engine(
    choice: EngineChoice | None, **tables: str | os.PathLike[str] | pd.DataFrame | Any
) -> Iterator[tuple[Engine, dict[str, TableInfo]]]:
    """An engine with each keyword registered as a table (``opened_engine(choice, ref=a, cur=b)``).

    DuckDB reads CSV, Parquet, Arrow files and DataFrames (:func:`governance.analytics.io.opened`); Spark reads
    Parquet paths and catalog tables, and its session stays up for the next analysis in this process. An engine
    error while the tables are used becomes an :class:`InputError` with its first line (never a traceback).
    """
    if choice is None or choice.name == "duckdb":
        from governance.analytics.io import opened

        with opened(**tables) as (con, infos):
            yield DuckDBEngine(con), infos
        return
    for src in tables.values():  # refuse bad input before the JVM starts
        if is_frame(src):
            raise InputError("the Spark engine reads Parquet paths and tables, not in-memory DataFrames")
        spark_source(src)
    engine = SparkEngine(spark_session(choice.master, choice.conf))
    infos = {key: engine.load_table(src, key) for key, src in tables.items()}
    try:
        yield engine, infos
    except _spark_errors() as exc:
        raise InputError(f"the data could not be analysed on Spark: {first_line(exc)}") from None


def _spark_errors() -> tuple[type[BaseException], ...]:
    """The exception types Spark raises for a statement it cannot run (its own and Py4J's)."""
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JError
    except ImportError:  # pragma: no cover - Spark Connect has no Py4J
        return (PySparkException,)
    return (PySparkException, Py4JError)


def engine_summary(engine: Engine) -> dict[str, Any]:
    """What evidence records of the engine: its name, the query hash, the statements, rows and bytes returned."""
    s = engine.stats
    return {"name": engine.name, "query_hash": s.query_hash, "queries": len(s.statements), "rows_returned": s.rows,
            "bytes_returned": s.bytes, "max_rows": s.max_rows, "statements": list(s.statements)}


def recorded(summary: Mapping[str, Any]) -> dict[str, Any]:
    """An :func:`engine_summary` without its statements, as evidence inputs and JSON output carry it (the
    statements are in the result)."""
    return {k: v for k, v in summary.items() if k != "statements"}
