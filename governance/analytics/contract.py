"""The data contract every analytics input meets, on every engine: what counts as a column, and what as a value.

* **Names.** A file whose header repeats a column name is refused (:class:`~core.errors.InputError` naming the
  names): DuckDB would rename the second ``gender`` to ``gender_1`` and Spark would refuse later, so either way the
  data would not be what the person thinks it is.
* **Index columns are not data.** pandas writes its index beside the columns: ``__index_level_0__`` in Parquet
  (what ZenML's pandas materializer keeps), an empty header read back as ``Unnamed: 0`` from CSV, or a named index
  that the Parquet file's pandas metadata lists under ``index_columns``. Such columns are left out of every analysis
  and listed (:attr:`TableInfo.index_columns <governance.analytics.io.TableInfo>`): scored as a feature, a row number
  that grows with time always "drifts".
* **Missing values.** NULL, NaN and ±inf are all missing, exactly as Evidently drops them
  (``replace([inf, -inf], nan).dropna()``). Parquet written by Spark, Polars or pyarrow from numpy stores IEEE NaN
  where pandas stores NULL, and the same data must give the same verdict either way. In SQL, "present" is
  :func:`present_sql`: ``IS NOT NULL`` for types that cannot hold NaN, a finite range test for floating types
  (NaN compares above every number and ±inf lies outside the range on DuckDB, Spark and Trino alike).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.errors import InputError

# pandas' unnamed index in Parquet, and in a CSV read back by pandas; an empty CSV header is one too
_INDEX_NAME = re.compile(r"^(__index_level_\d+__|Unnamed: \d+)$")
FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8")
# Finite doubles, as a range: NaN compares above every number and ±inf lies outside, in DuckDB, Spark and Trino
# alike (``isfinite`` exists in DuckDB only). NULL is not in the range either.
FINITE = "BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308"


def is_index_name(name: str | None) -> bool:
    """Whether a raw column name is one pandas gives its index (an empty name counts: pandas' unnamed CSV index)."""
    return name is None or name == "" or bool(_INDEX_NAME.match(name))


def is_float_type(sql_type: str) -> bool:
    """Whether a SQL type (DuckDB's name) can hold NaN or ±inf."""
    return sql_type.split("(")[0].upper() in FLOAT_TYPES


def present_sql(quoted: str, sql_type: str) -> str:
    """The SQL predicate 'this value is present' for a column of ``sql_type``: not NULL, and finite for floats."""
    if is_float_type(sql_type):
        return f"CAST({quoted} AS DOUBLE) {FINITE}"
    return f"{quoted} IS NOT NULL"


def refuse_duplicates(names: Iterable[str | None], source: str) -> None:
    """Raise :class:`InputError` naming every column name that occurs more than once in ``names``."""
    counts = Counter(n for n in names if n not in (None, ""))
    repeated = [f"{n!r} ({c}×)" for n, c in counts.items() if c > 1]
    if repeated:
        raise InputError(f"{source}: duplicated column name{'s' if len(repeated) > 1 else ''} {', '.join(repeated)}; "
                         "give every column its own name and try again")


def parquet_index_columns(path: Path) -> set[str]:
    """The columns a Parquet file's pandas metadata names as the index (a RangeIndex is stored as no column)."""
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))[:1]
    if not files:
        return set()
    try:
        meta = pq.read_schema(files[0]).pandas_metadata or {}
    except (OSError, ValueError):  # not readable by pyarrow: the engine reports the file itself
        return set()
    return {c for c in meta.get("index_columns") or () if isinstance(c, str)}


def parquet_names(path: Path) -> list[str] | None:
    """The column names of a Parquet file as stored (duplicates kept), or None when pyarrow cannot read them."""
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError):
        return None


def index_columns(raw: Sequence[str | None], engine_names: Sequence[str], declared: Iterable[str] = ()) -> tuple[str, ...]:
    """The engine's names of the index columns, given the raw names in file order (matched by position) and the
    names a file's metadata declares as its index."""
    wanted = set(declared)
    return tuple(name for i, name in enumerate(engine_names)
                 if (i < len(raw) and is_index_name(raw[i])) or name in wanted or is_index_name(name))


def frame_names(frame: Any) -> list[str]:
    """The column names of a DataFrame as text (pandas allows non-text and repeated names)."""
    return [str(c) for c in frame.columns]
