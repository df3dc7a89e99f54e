"""The datasets an MLflow run logged (``mlflow.log_input``), as the data a review reads, and MLflow's digest of them.

``mlflow.data.from_pandas(df, source=...)`` + ``mlflow.log_input(ds, context="training")`` records a dataset input
on the run: a name, a ``digest`` MLflow computed from the DataFrame, its schema and row count, a ``source_type``
with a ``source`` JSON saying where the data lives, and the context as the input tag ``mlflow.data.context``. What
Countersign makes of each source type the client writes:

- ``http`` (``HTTPDatasetSource(url)``, also how users wrap ``mlflow-artifacts:/`` and ``runs:/`` URIs): the URL;
- ``local`` (a path or ``file://``) and the artifact-repository types (``s3``, ``gs``, ``hdfs`` …): the URI;
- ``code`` (``from_pandas(df)`` with no source): nothing to read. MLflow recorded the DataFrame's digest, schema
  and row count, not its rows; Countersign lists the dataset and checks a file named for it (the version tag
  ``countersign.data.<key>``) against that digest, but cannot conjure the data.

The context says what the data is for: :data:`connectors.naming.CONTEXTS` (``training`` → reference,
``validation``/``eval``/``test`` → validation, ``production``/``serving`` → current). A version tag
``countersign.data.<key>`` always wins over a dataset input.

Where MLflow's digest can be recomputed (a pandas dataset: its schema is a column spec and its profile counts rows),
the data URI carries it as a fragment, ``…/train.parquet#mlflow-digest=d3314ed6``; the connector's ``fetch`` then
recomputes the digest of the file it read (:func:`pandas_digest`, MLflow's ``compute_pandas_digest`` re-implemented:
md5 over pandas' row hashes of the first 10,000 rows of the string and number columns, the row count and the column
names) and refuses a file that is not the DataFrame the run logged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors import naming
from connectors.mlflow.settings import TAG_DATA
from core.errors import InputError

DIGEST_FRAGMENT = "mlflow-digest="
MAX_ROWS = 10_000  # mlflow.data.digest_utils.MAX_ROWS
# the source types whose JSON names a location (the others — code, delta_table, hugging_face … — do not, or not one
# Countersign reads)
_LOCATION_KEYS = ("uri", "url", "path")


@dataclass(frozen=True)
class DatasetInput:
    """One dataset input of a run, as recorded and as Countersign reads it."""

    name: str | None
    context: str
    digest: str | None
    source_type: str | None
    uri: str | None  # where the data is, when the source names a location
    rows: int | None  # the row count MLflow's profile recorded
    pandas: bool  # MLflow's pandas digest applies (a column-spec schema and a row-count profile)

    @property
    def key(self) -> str | None:
        """The data key a review reads it as (reference, validation, current), or None for another context."""
        return naming.data_key(self.context)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the run's raw record."""
        return {"name": self.name, "context": self.context, "digest": self.digest, "source_type": self.source_type,
                "uri": self.uri, "rows": self.rows, "pandas": self.pandas}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetInput:
        """Rebuild one from :meth:`as_dict` (older records lack the newer keys)."""
        return cls(d.get("name"), str(d.get("context") or "dataset"), d.get("digest"), d.get("source_type"),
                   d.get("uri"), d.get("rows"), bool(d.get("pandas")))


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def source_uri(source_type: str | None, source: Any) -> str | None:
    """The location a dataset's ``source`` JSON names (``url``, ``uri`` or ``path``), or None (a ``code`` source)."""
    if source_type == "code":
        return None
    src = _json(source)
    for key in _LOCATION_KEYS:
        value = src.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def parse_input(item: dict[str, Any]) -> DatasetInput:
    """One entry of a run's ``inputs.dataset_inputs``."""
    ds = item.get("dataset") or {}
    tags = {str(t.get("key")): str(t.get("value", "")) for t in item.get("tags") or [] if isinstance(t, dict)}
    schema, profile = _json(ds.get("schema")), _json(ds.get("profile"))
    rows = profile.get("num_rows")
    return DatasetInput(
        name=ds.get("name"), context=tags.get("mlflow.data.context") or ds.get("name") or "dataset",
        digest=ds.get("digest") or None, source_type=ds.get("source_type") or None,
        uri=source_uri(ds.get("source_type"), ds.get("source")),
        rows=int(rows) if isinstance(rows, int | float) and not isinstance(rows, bool) else None,
        pandas="mlflow_colspec" in schema and "num_rows" in profile,
    )


def with_digest(uri: str, digest: str | None) -> str:
    """``uri`` carrying MLflow's ``digest`` as its fragment (unchanged when there is none or it has a fragment)."""
    if not digest or "#" in uri:
        return uri
    return f"{uri}#{DIGEST_FRAGMENT}{digest}"


def split_digest(uri: str) -> tuple[str, str | None]:
    """(``uri`` without a digest fragment, the digest or None)."""
    base, sep, fragment = uri.partition("#")
    if sep and fragment.startswith(DIGEST_FRAGMENT):
        return base, fragment[len(DIGEST_FRAGMENT):] or None
    return uri, None


def data_uris(tags: dict[str, str], inputs: list[DatasetInput]) -> dict[str, str]:
    """The version's data: its ``countersign.data.*`` tags, then its run's dataset inputs by context.

    A tag names the file; when an input of the same key recorded a pandas digest, the tag's URI carries it too, so
    the file named is checked against the data the run logged (the honest use of a ``code`` source)."""
    out = {k[len(TAG_DATA):]: val for k, val in tags.items() if k.startswith(TAG_DATA) and val}
    by_key: dict[str, DatasetInput] = {}
    for ds in inputs:
        if ds.key and ds.key not in by_key:
            by_key[ds.key] = ds
    for key, ds in by_key.items():
        digest = ds.digest if ds.pandas else None
        if key in out:
            out[key] = with_digest(out[key], digest)
        elif ds.uri:
            out[key] = with_digest(ds.uri, digest)
    return out


def unreadable_inputs(inputs: list[DatasetInput]) -> list[str]:
    """One line per dataset input that feeds a review but names no data (a ``code`` source)."""
    return [f"dataset {ds.name or '?'} ({ds.context}) was logged without a source: MLflow kept its digest "
            f"{ds.digest or '?'} and schema, not its rows; log it with from_pandas(df, source=...) or tag the version "
            f"{TAG_DATA}{ds.key} = the file (checked against that digest)"
            for ds in inputs if ds.key and not ds.uri]


# -- MLflow's pandas digest ------------------------------------------------------------------------------------------


def pandas_digest(path: Path) -> str:
    """MLflow's ``compute_pandas_digest`` of the table in ``path`` (CSV or Parquet), as ``from_pandas`` records it.

    The first 10,000 rows of the columns that are numbers, or strings in every row of the whole table, hashed row by
    row with ``pandas.util.hash_pandas_object`` (index included), then the row count and every column name, into
    md5, first eight hex digits. CSV floats are parsed ``round_trip`` so they are the values that were written."""
    import numpy as np
    import pandas as pd

    frame, head = _read(path)
    string_cols = head.columns[[_all_strings(frame[c]) for c in head.columns]]
    numeric_cols = head.select_dtypes(include=[np.number]).columns
    trimmed = head[string_cols.union(numeric_cols)]
    md5 = hashlib.md5(usedforsecurity=False)
    for element in [pd.util.hash_pandas_object(trimmed).values, np.int64(len(frame)),
                    *(str(c).encode() for c in frame.columns)]:
        md5.update(element)
    return md5.hexdigest()[:8]


def _all_strings(column: Any) -> bool:
    return bool((column.map(type) == str).all())  # noqa: E721 - MLflow compares the types exactly


def _read(path: Path) -> tuple[Any, Any]:
    """The whole table and its first :data:`MAX_ROWS` rows, as MLflow's digest reads them."""
    import pandas as pd

    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq", ".parquet.gzip")):
            frame = pd.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            frame = pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",", float_precision="round_trip")
        else:
            raise InputError(f"{path.name}: MLflow's digest is checked on CSV and Parquet files only")
    except (ValueError, OSError) as exc:
        raise InputError(f"{path.name}: could not read it to check MLflow's digest ({exc})") from None
    return frame, frame.head(MAX_ROWS)


def check_digest(path: Path, expected: str, uri: str) -> None:
    """Refuse the file at ``path`` (fetched from ``uri``) unless its MLflow digest is ``expected``."""
    found = pandas_digest(path)
    if found != expected:
        raise InputError(
            f"{uri}: this file is not the dataset the run logged (MLflow recorded digest {expected}, the file gives "
            f"{found}); the data changed since training, or the tag names another file. Nothing was computed on it")


def scheme(uri: str) -> str:
    """The URI's scheme, ``file`` for a plain path."""
    return urlsplit(uri).scheme or "file"
