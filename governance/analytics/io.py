"""Read CSV, Parquet and Arrow files (or DataFrames) into a private in-memory DuckDB connection, with clear errors.

Parquet and Arrow files become views, so a file larger than memory is streamed by every query. A CSV file is
parsed once: small ones into an in-memory table, large ones into a temporary Parquet file next to nothing the user
owns, because re-parsing text for each of the per-column aggregate queries would dominate the run time.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from core.errors import InputError
from governance.analytics import contract

if TYPE_CHECKING:
    import pandas as pd

FORMATS: dict[str, str] = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".csv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow",
}
# CSV files above this size go to a temporary Parquet file instead of an in-memory table.
CSV_SPILL_BYTES = 256 * 1024 * 1024
NUMERIC_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
    "UHUGEINT", "FLOAT", "DOUBLE", "REAL",
)
INTEGER_TYPES = NUMERIC_TYPES[:10]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TableInfo:
    """A table registered in an analysis connection: its name, origin, row count and column types.

    ``columns`` are the data columns only: index columns pandas wrote beside them (:mod:`.contract`) are listed in
    ``index_columns`` and take part in no analysis.
    """

    name: str
    source: str
    rows: int
    columns: dict[str, str]
    index_columns: tuple[str, ...] = ()

    def is_numeric(self, column: str) -> bool:
        """Whether ``column`` has a numeric SQL type (booleans are not numeric here)."""
        return _base_type(self.columns[column]) in NUMERIC_TYPES or self.columns[column].startswith("DECIMAL")

    def is_integer(self, column: str) -> bool:
        """Whether ``column`` has an integer SQL type."""
        return _base_type(self.columns[column]) in INTEGER_TYPES

    def is_float(self, column: str) -> bool:
        """Whether ``column`` can hold NaN or ±inf (missing values under the data contract)."""
        return contract.is_float_type(self.columns[column])

    def present(self, column: str) -> str:
        """The SQL predicate 'the value of ``column`` is present' (not NULL, NaN or ±inf)."""
        return contract.present_sql(quote(column), self.columns[column])


def is_frame(source: object) -> bool:
    """Whether ``source`` is a pandas DataFrame (without importing pandas when nobody has)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(source, pd.DataFrame)


def _base_type(sql_type: str) -> str:
    return sql_type.split("(")[0].upper()


def quote(identifier: str) -> str:
    """A SQL identifier in double quotes (column names come from user files)."""
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection for one analysis (never the module-level one)."""
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_literal(memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    # Parquet statistics leave NaN out (as the format asks), and DuckDB's statistics propagation takes them as the
    # whole truth: max(x) then reads 1.0 over a column holding NaN, and a range test it "knows" is always true is
    # dropped, so NaN passes as a value. The data contract (NaN is missing) needs every value looked at.
    con.execute("SET disabled_optimizers = 'statistics_propagation'")
    # a long statement would draw DuckDB's progress bar on stdout, in the middle of a --json document
    con.execute("SET enable_progress_bar = false")
    return con


def file_format(path: Path) -> str:
    """The format of ``path`` from its name: csv, parquet or arrow; raise :class:`InputError` otherwise."""
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    raise InputError(
        f"{path}: unsupported file type (expected one of {', '.join(sorted(FORMATS))}); "
        "save the data as CSV (UTF-8) or Parquet"
    )


def load_table(
    con: duckdb.DuckDBPyConnection,
    source: str | os.PathLike[str] | pd.DataFrame | Any,
    name: str,
    *,
    spill_dir: Path | None = None,
) -> TableInfo:
    """Register ``source`` (a CSV/Parquet/Arrow path or a DataFrame) as table or view ``name`` of ``con``.

    Args:
        con: the analysis connection from :func:`connect`.
        source: a file path or a pandas DataFrame.
        name: a plain SQL identifier for the new view.
        spill_dir: where a large CSV is converted to Parquet (a temporary folder when omitted).

    Returns:
        A :class:`TableInfo` with the row count, the column types and the index columns left out.

    Raises:
        InputError: the file is missing, empty, not readable as its format, not UTF-8, has no columns, or repeats
            a column name.
    """
    if not _NAME.match(name):
        raise ValueError(f"table name must be a plain identifier, got {name!r}")
    if is_frame(source):
        if source.shape[1] == 0:
            raise InputError(f"{name}: the data has no columns")
        raw = contract.frame_names(source)
        contract.refuse_duplicates(raw, f"<{name} DataFrame>")
        con.register(f"{name}__df", source)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}__df")
        return _describe(con, name, f"<{name} DataFrame>", raw)
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a CSV, Parquet or Arrow file")
    fmt = file_format(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        declared: set[str] = set()
        if fmt == "parquet":
            raw = contract.parquet_names(path)
            declared = contract.parquet_index_columns(path)
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_literal(str(path))})")
        elif fmt == "arrow":
            raw = _load_arrow(con, path, name)
        else:
            raw = _csv_header(con, path)
            _load_csv(con, path, name, spill_dir)
        if raw is not None:
            contract.refuse_duplicates(raw, str(path))
        info = _describe(con, name, str(path), raw, declared)
    except duckdb.Error as exc:
        raise InputError(_explain_read_error(path, fmt, exc)) from None
    if not info.columns:
        raise InputError(f"{path}: no columns found")
    return info


def _load_arrow(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> list[str]:
    """Register an Arrow IPC/Feather file as view ``name``; return its column names as stored."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(path), format="ipc")
        names = list(dataset.schema.names)  # reading the schema validates the file before DuckDB sees it
    except (pa.ArrowInvalid, OSError) as exc:
        try:  # the streaming IPC format has no footer; read it whole
            with pa.OSFile(str(path)) as f:
                table = pa.ipc.open_stream(f).read_all()
        except (pa.ArrowInvalid, OSError):
            raise InputError(f"{path}: not an Arrow IPC/Feather file ({exc})") from None
        contract.refuse_duplicates(table.schema.names, str(path))
        con.register(f"{name}__arrow", table)
        names = list(table.schema.names)
    else:
        contract.refuse_duplicates(names, str(path))
        con.register(f"{name}__arrow", dataset)
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}__arrow")
    return names


def _csv_header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str | None] | None:
    """The header row of a CSV file as written (DuckDB renames a repeated name, which hides it); None when the file
    has no row to read (the load reports that)."""
    got = con.execute(f"SELECT * FROM read_csv({_literal(str(path))}, header = false, all_varchar = true) "
                      "LIMIT 1").fetchall()
    return list(got[0]) if got else None


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, name: str, spill_dir: Path | None) -> None:
    # no BOOLEAN candidate: DuckDB would read yes/no as true/false, unlike the same data from Parquet
    reader = (
        f"read_csv({_literal(str(path))}, header = true, auto_detect = true, sample_size = 100000, "
        "auto_type_candidates = ['BIGINT', 'DOUBLE', 'DATE', 'TIMESTAMP', 'VARCHAR'])"
    )
    if path.stat().st_size <= CSV_SPILL_BYTES:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {reader}")
        return
    folder = Path(tempfile.mkdtemp(prefix="countersign-csv-", dir=spill_dir))
    target = folder / f"{name}.parquet"
    con.execute(f"COPY (SELECT * FROM {reader}) TO {_literal(str(target))} (FORMAT parquet)")
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_literal(str(target))})")


def _explain_read_error(path: Path, fmt: str, exc: duckdb.Error) -> str:
    text = str(exc)
    low = text.lower()
    if "unicode" in low or "utf-8" in low or "utf8" in low or "encoding" in low:
        return (f"{path}: the file is not UTF-8 text; re-save it as UTF-8 (for example "
                f"'iconv -f latin1 -t utf-8 in.csv > out.csv') and try again")
    if fmt == "parquet" and ("magic" in low or "parquet" in low or "too small" in low):
        return f"{path}: not a valid Parquet file ({text.splitlines()[0]})"
    if fmt == "csv" and ("sniff" in low or "csv" in low):
        return f"{path}: could not read it as CSV with a header row ({text.splitlines()[0]})"
    return f"{path}: could not read the {fmt} file ({text.splitlines()[0]})"


def _describe(con: duckdb.DuckDBPyConnection, name: str, source: str, raw: list[str | None] | list[str] | None = None,
              declared: set[str] | frozenset[str] = frozenset()) -> TableInfo:
    cols = con.execute(f"DESCRIBE {name}").fetchall()
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    types = {c[0]: str(c[1]) for c in cols}
    index = contract.index_columns(raw or [], list(types), declared)
    return TableInfo(name=name, source=source, rows=int(rows),
                     columns={c: t for c, t in types.items() if c not in index}, index_columns=index)


@contextmanager
def opened(**tables: str | os.PathLike[str] | pd.DataFrame | Any
           ) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, TableInfo]]]:
    """A connection with each keyword registered as a table, closed on exit (``opened(ref=p1, cur=p2)``).

    A DuckDB error while the tables are used (a value the SQL cannot take) becomes an :class:`InputError` with its
    first line: no data problem ends in a traceback.
    """
    con = connect()
    with tempfile.TemporaryDirectory(prefix="countersign-") as tmp:
        try:
            infos = {key: load_table(con, src, key, spill_dir=Path(tmp)) for key, src in tables.items()}
            try:
                yield con, infos
            except duckdb.Error as exc:
                raise InputError(f"the data could not be analysed: {first_line(exc)}") from None
        finally:
            con.close()


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (engines print multi-line context below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
