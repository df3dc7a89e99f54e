"""Read CSV, Parquet and Arrow files (or DataFrames) into a private in-memory DuckDB connection, with clear errors.

Parquet and Arrow files become views, so a file larger than memory is streamed by every query. A CSV file is
parsed once: small ones into an in-memory table, large ones into a temporary Parquet file next to nothing the user
owns, because re-parsing text for each of the per-column aggregate queries would dominate the run time.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from core.errors import InputError

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
    """A table registered in an analysis connection: its name, origin, row count and column types."""

    name: str
    source: str
    rows: int
    columns: dict[str, str]

    def is_numeric(self, column: str) -> bool:
        """Whether ``column`` has a numeric SQL type (booleans are not numeric here)."""
        return _base_type(self.columns[column]) in NUMERIC_TYPES or self.columns[column].startswith("DECIMAL")

    def is_integer(self, column: str) -> bool:
        """Whether ``column`` has an integer SQL type."""
        return _base_type(self.columns[column]) in INTEGER_TYPES


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
    source: str | os.PathLike[str] | pd.DataFrame,
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
        A :class:`TableInfo` with the row count and the column types.

    Raises:
        InputError: the file is missing, empty, not readable as its format, not UTF-8, or has no columns.
    """
    if not _NAME.match(name):
        raise ValueError(f"table name must be a plain identifier, got {name!r}")
    if isinstance(source, pd.DataFrame):
        if source.shape[1] == 0:
            raise InputError(f"{name}: the data has no columns")
        con.register(f"{name}__df", source)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}__df")
        return _describe(con, name, f"<{name} DataFrame>")
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a CSV, Parquet or Arrow file")
    fmt = file_format(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        if fmt == "parquet":
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_literal(str(path))})")
        elif fmt == "arrow":
            _load_arrow(con, path, name)
        else:
            _load_csv(con, path, name, spill_dir)
        info = _describe(con, name, str(path))
    except duckdb.Error as exc:
        raise InputError(_explain_read_error(path, fmt, exc)) from None
    if not info.columns:
        raise InputError(f"{path}: no columns found")
    return info


def _load_arrow(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(path), format="ipc")
        dataset.schema  # noqa: B018 -- reading the schema validates the file before DuckDB sees it
    except (pa.ArrowInvalid, OSError) as exc:
        try:  # the streaming IPC format has no footer; read it whole
            with pa.OSFile(str(path)) as f:
                table = pa.ipc.open_stream(f).read_all()
        except (pa.ArrowInvalid, OSError):
            raise InputError(f"{path}: not an Arrow IPC/Feather file ({exc})") from None
        con.register(f"{name}__arrow", table)
    else:
        con.register(f"{name}__arrow", dataset)
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}__arrow")


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


def _describe(con: duckdb.DuckDBPyConnection, name: str, source: str) -> TableInfo:
    cols = con.execute(f"DESCRIBE {name}").fetchall()
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    return TableInfo(name=name, source=source, rows=int(rows), columns={c[0]: str(c[1]) for c in cols})


@contextmanager
def opened(**tables: str | os.PathLike[str] | pd.DataFrame) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, TableInfo]]]:
    """A connection with each keyword registered as a table, closed on exit (``opened(ref=p1, cur=p2)``)."""
    con = connect()
    with tempfile.TemporaryDirectory(prefix="countersign-") as tmp:
        try:
            infos = {key: load_table(con, src, key, spill_dir=Path(tmp)) for key, src in tables.items()}
            yield con, infos
        finally:
            con.close()
