"""The catalog on PostgreSQL: a thin adapter that gives a psycopg connection the DuckDB API the catalog code uses.

The catalog's SQL is written once, in DuckDB's dialect. On PostgreSQL each statement is translated once per text
(:func:`translate`, with sqlglot, cached): ``?`` and ``$name`` become psycopg's ``%s`` / ``%(name)s``, DuckDB
functions become their PostgreSQL equivalents, and ``arg_max`` becomes an ordered ``array_agg``. The few DuckDB
functions sqlglot passes through unchanged (``contains``, ``ends_with``, ``list_position``, ``array_sort``,
``length`` of a list, JSON paths over TEXT) are created as SQL functions by :data:`COMPAT_FUNCTIONS` when the catalog
is migrated. JSON columns come back as text, as DuckDB returns them, so the typed records read both alike.

Errors are raised as DuckDB's exception classes (a unique violation as ``duckdb.ConstraintException`` …) so callers
catch one family whatever the backend. Connections are pooled per process (a PostgreSQL connection costs a few ms).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from core.credentials import credential_problem
from core.errors import CatalogBusy, ConfigError
from core.extras import require_extra

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

# DuckDB functions that PostgreSQL lacks, as SQL functions (created with the schema; idempotent).
COMPAT_FUNCTIONS = (
    "CREATE OR REPLACE FUNCTION sha256(text) RETURNS bytea IMMUTABLE LANGUAGE sql "
    "AS 'SELECT sha256(convert_to($1, ''UTF8''))'",
    "CREATE OR REPLACE FUNCTION contains(text, text) RETURNS boolean IMMUTABLE LANGUAGE sql "
    "AS 'SELECT strpos($1, $2) > 0'",
    "CREATE OR REPLACE FUNCTION ends_with(text, text) RETURNS boolean IMMUTABLE LANGUAGE sql "
    "AS 'SELECT right($1, length($2)) = $2'",
    "CREATE OR REPLACE FUNCTION list_position(anycompatiblearray, anycompatible) RETURNS integer IMMUTABLE "
    "LANGUAGE sql AS 'SELECT array_position($1, $2)'",
    "CREATE OR REPLACE FUNCTION array_sort(anyarray) RETURNS anyarray IMMUTABLE LANGUAGE sql "
    "AS 'SELECT array_agg(x ORDER BY x) FROM unnest($1) AS x'",
    "CREATE OR REPLACE FUNCTION length(anyarray) RETURNS integer IMMUTABLE LANGUAGE sql "
    "AS 'SELECT coalesce(cardinality($1), 0)'",
    "CREATE OR REPLACE FUNCTION json_extract_path_text(text, VARIADIC text[]) RETURNS text IMMUTABLE "
    "LANGUAGE sql AS 'SELECT json_extract_path_text($1::json, VARIADIC $2)'",
)

_ADVISORY = {"ledger": 0x636F756E7401, "migrate": 0x636F756E7402}  # pg_advisory_xact_lock keys ('count'...)


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a catalog URL (a password in it, another scheme), or None."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        return "only postgresql://user@host/db URLs are supported (leave it out for catalog.duckdb)"
    return credential_problem(url, "put the password in PGPASSWORD or ~/.pgpass", user_allowed=True)


def check_url(url: str) -> str:
    """``url`` when it is a ``postgresql://`` URL without a password; else a ConfigError saying what to do."""
    problem = url_problem(url)
    if problem is not None:
        raise ConfigError(f"[catalog] url: {problem}")  # the URL itself is not repeated: it may hold the password
    return url


@functools.lru_cache(maxsize=4096)
def translate(sql: str, escape_percent: bool) -> str:
    """``sql`` (DuckDB dialect, ``?`` / ``$name`` parameters) as PostgreSQL for psycopg; cached per text."""
    import sqlglot
    from sqlglot import exp

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.ArgMax):  # DuckDB ignores rows whose value or key is NULL
            value, key = node.this, node.expression
            agg = exp.ArrayAgg(this=exp.Order(this=value.copy(), expressions=[exp.Ordered(this=key.copy(), desc=True)]))
            both = exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
                            exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())))
            filtered = exp.Filter(this=agg, expression=exp.Where(this=both))
            return exp.Bracket(this=exp.Paren(this=filtered), expressions=[exp.Literal.number(1)], offset=1)
        if isinstance(node, exp.Subquery) and not node.alias and isinstance(node.parent, (exp.From, exp.Join)):
            node.set("alias", exp.TableAlias(this=exp.to_identifier(f"_sub{next(names)}")))  # PostgreSQL 15 wants one
            return node
        if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
            # strftime: sqlglot's to_char pattern leaves letters such as the T of an ISO time unquoted ('DDTH' is
            # PostgreSQL's ordinal suffix), so the pattern is built here with every literal character quoted
            fmt = _to_char_pattern(node.args["format"].this)
            return exp.Anonymous(this="to_char", expressions=[node.this.copy(), exp.Literal.string(fmt)])
        return node

    names = itertools.count(1)
    out = []
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        out.append(tree.transform(rewrite).sql(dialect="postgres"))
    text = "; ".join(out)
    # psycopg reads % as the start of a parameter: a literal one (LIKE 's3://%') is doubled
    return re.sub(r"%(?!s\b|\()", "%%", text) if escape_percent else text


class _TextArray(list):
    """A list of strings bound as ``text[]`` (psycopg sends strings untyped, which ``unnest`` cannot resolve)."""


def _text_array_dumper() -> type:
    from psycopg.adapt import Dumper

    class TextArrayDumper(Dumper):
        oid = 1009  # text[]

        def dump(self, obj: list[str | None]) -> bytes:
            def item(v: str | None) -> str:
                return "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

            return ("{" + ",".join(item(v) for v in obj) + "}").encode()

    return TextArrayDumper


def _bind(value: Any) -> Any:
    """A parameter as psycopg should send it: lists of text as ``text[]``, tuples as lists."""
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, str) for v in value):
        return _TextArray(value)
    return list(value) if isinstance(value, tuple) else value


_STRFTIME = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH24", "%M": "MI", "%S": "SS", "%f": "US", "%%": "%"}


def _to_char_pattern(fmt: str) -> str:
    """A strftime format as a to_char pattern, every character that is not a field quoted."""
    out, i = [], 0
    while i < len(fmt):
        code = fmt[i : i + 2]
        if code in _STRFTIME:
            out.append(_STRFTIME[code])
            i += 2
        else:
            out.append(f'"{fmt[i]}"')
            i += 1
    return "".join(out)


@contextmanager
def _as_duckdb_errors() -> Iterator[None]:
    """psycopg errors raised inside, re-raised as the DuckDB exception classes callers already catch."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        _raise_as_duckdb(exc)


def _raise_as_duckdb(exc: BaseException) -> None:
    """Re-raise a psycopg error as the DuckDB exception class callers already catch."""
    import psycopg

    text = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, psycopg.errors.IntegrityError):
        raise duckdb.ConstraintException(text) from exc
    if isinstance(exc, (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected,
                        psycopg.errors.LockNotAvailable)):
        raise duckdb.TransactionException(text) from exc
    if isinstance(exc, (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn,
                        psycopg.errors.UndefinedFunction)):
        raise duckdb.CatalogException(text) from exc
    if isinstance(exc, psycopg.errors.DataError):
        raise duckdb.ConversionException(text) from exc
    if isinstance(exc, psycopg.OperationalError):
        raise duckdb.IOException(text) from exc
    raise duckdb.Error(text) from exc


_PG_TYPES = {"string": "TEXT", "large_string": "TEXT", "int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE PRECISION",
             "bool": "BOOLEAN", "null": "TEXT"}


def _pg_type(arrow_type: Any) -> str:
    name = str(arrow_type)
    if name.startswith("timestamp"):
        return "TIMESTAMPTZ" if "tz=" in name else "TIMESTAMP"
    return _PG_TYPES.get(name, "TEXT")


class _Relation:
    """What ``con.from_arrow(table)`` returns: enough to ``insert_into`` a catalog table."""

    def __init__(self, con: PgConnection, table: Any) -> None:
        self._con, self._table = con, table

    def insert_into(self, name: str) -> None:
        """Insert every row (columns in the target table's order, as DuckDB does) with one COPY."""
        self._con.copy_rows(name, list(self._table.column_names), self._table.to_pylist())


_TIMESTAMP_OIDS = (1114, 1184)  # timestamp, timestamptz


class PgCursor:
    """A statement's result, with the DuckDB result methods the catalog uses."""

    def __init__(self, cur: psycopg.Cursor) -> None:
        self._cur = cur

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        d = self._cur.description
        return None if d is None else [(c.name, c.type_code) for c in d]

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cur.fetchall() if self._cur.description else []

    def df(self) -> pd.DataFrame:
        """The rows as a DataFrame, timestamp columns as datetime64 (as DuckDB's ``df()`` gives them)."""
        import pandas as pd

        described = self._cur.description or []
        frame = pd.DataFrame.from_records(self.fetchall(), columns=[c.name for c in described])
        for c in described:
            if c.type_code in _TIMESTAMP_OIDS:
                frame[c.name] = pd.to_datetime(frame[c.name])
        return frame


class PgConnection:
    """A psycopg connection dressed as the DuckDB connection the catalog code expects (one per thread)."""

    def __init__(self, raw: psycopg.Connection, catalog_path: Path | None = None) -> None:
        self.raw = raw
        self.catalog_path = catalog_path  # the workspace's catalog name (keys the signed head), not a file
        self._registered: set[str] = set()
        self.session_locks: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> PgCursor:
        """Run one DuckDB-dialect statement (translated); returns its result."""
        has_params = bool(params)
        text = translate(sql, has_params)
        if has_params and isinstance(params, (list, tuple)):
            params = [_bind(p) for p in params]
        elif has_params and isinstance(params, dict):
            params = {k: _bind(v) for k, v in params.items()}
        with _as_duckdb_errors():
            return PgCursor(self.raw.execute(text, params if has_params else None))  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per parameter row."""
        text = translate(sql, True)
        with _as_duckdb_errors(), self.raw.cursor() as cur:
            cur.executemany(text, [list(r) for r in rows])

    def copy_rows(self, table: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (dicts) into ``table`` with COPY (the fast path of bulk inserts)."""
        if not rows:
            return
        from psycopg import sql as psql

        stmt = psql.SQL("COPY {} ({}) FROM STDIN").format(
            psql.Identifier(table), psql.SQL(", ").join(psql.Identifier(c) for c in columns))
        with _as_duckdb_errors(), self.raw.cursor() as cur, cur.copy(stmt) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def from_arrow(self, table: Any) -> _Relation:
        """An Arrow table to insert (DuckDB's ``from_arrow(...).insert_into``)."""
        return _Relation(self, table)

    def register(self, name: str, table: Any) -> None:
        """Make an Arrow table queryable as ``name`` for the rest of the transaction (a temporary table)."""
        from psycopg import sql as psql

        cols = psql.SQL(", ").join(psql.SQL("{} {}").format(psql.Identifier(f.name), psql.SQL(_pg_type(f.type)))
                                   for f in table.schema)
        self.raw.execute(psql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(psql.Identifier(name), cols))
        self._registered.add(name)
        self.copy_rows(name, list(table.column_names), table.to_pylist())

    def unregister(self, name: str) -> None:
        from psycopg import sql as psql

        if name in self._registered:
            self._registered.discard(name)
            self.raw.execute(psql.SQL("DROP TABLE IF EXISTS {}").format(psql.Identifier(name)))

    def advisory_lock(self, name: str) -> None:
        """Hold the transaction-scoped advisory lock ``name`` (``ledger``, ``migrate``) until commit or rollback."""
        self.raw.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY[name]])

    def session_lock(self, name: str) -> None:
        """Hold the advisory lock ``name`` past the commit, until :meth:`session_unlock` (or the connection goes
        back to the pool): the ledger keeps other writers out until its signed head has moved too."""
        if name not in self.session_locks:
            self.raw.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY[name]])
            self.session_locks.add(name)

    def session_unlock(self, name: str) -> None:
        """Release the advisory lock ``name`` taken by :meth:`session_lock` (a no-op when not held)."""
        if name in self.session_locks:
            self.session_locks.discard(name)
            self.raw.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY[name]])

    def cursor(self) -> PgConnection:
        return self

    def close(self) -> None:
        self.raw.close()


class PgBackend:
    """One PostgreSQL database: a small per-process pool of autocommit connections."""

    _IDLE = 8

    def __init__(self, url: str, *, busy_timeout: float = 30.0, catalog_path: Path | None = None) -> None:
        self.url = check_url(url)
        self.catalog_path = catalog_path
        self.busy_timeout = busy_timeout
        self._idle: list[psycopg.Connection] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _open(self) -> psycopg.Connection:
        psycopg = require_extra("psycopg", extra="postgres")  # sqlglot, which translates, is a run-time pin
        from psycopg.types.string import TextLoader

        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.busy_timeout)),
                                  application_name="countersign")
        except psycopg.OperationalError as exc:
            raise CatalogBusy(f"cannot reach the PostgreSQL catalog {self.url}: {exc}".strip()) from None
        for name in ("json", "jsonb"):  # JSON as text, as DuckDB hands it back
            raw.adapters.register_loader(name, TextLoader)
        raw.adapters.register_dumper(_TextArray, _text_array_dumper())
        return raw

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        """A pooled connection, back in the pool afterwards (rolled back first if a transaction was left open)."""
        from psycopg import Error as PgError
        from psycopg.pq import TransactionStatus

        with self._lock:
            if self._pid != os.getpid():  # a forked child never shares its parent's sockets
                self._idle, self._pid = [], os.getpid()
            raw = self._idle.pop() if self._idle else None
        if raw is None or raw.closed:
            raw = self._open()
        con = PgConnection(raw, self.catalog_path)
        try:
            yield con
        finally:
            reusable = not raw.closed and not raw.broken
            if reusable and raw.info.transaction_status != TransactionStatus.IDLE:
                try:
                    raw.execute("ROLLBACK")
                except PgError:  # the connection broke: closed below, never pooled
                    reusable = False
            for name in list(con.session_locks):  # never pool a connection that still keeps others waiting
                try:
                    con.session_unlock(name)
                except PgError:  # the lock could not be released: closing the connection releases it
                    reusable = False
            with self._lock:
                if reusable and len(self._idle) < self._IDLE and self._pid == os.getpid():
                    self._idle.append(raw)
                    raw = None
            if raw is not None:
                raw.close()

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for raw in idle:
            raw.close()


def advisory_lock(con: Any, name: str) -> None:
    """On PostgreSQL, serialise writers of ``name`` until the transaction ends; DuckDB has one writer already."""
    if isinstance(con, PgConnection):
        con.advisory_lock(name)


def session_lock(con: Any, name: str) -> None:
    """On PostgreSQL, serialise writers of ``name`` past the commit (see :meth:`PgConnection.session_lock`)."""
    if isinstance(con, PgConnection):
        con.session_lock(name)


def session_unlock(con: Any, name: str) -> None:
    """Release what :func:`session_lock` took (nothing on DuckDB)."""
    if isinstance(con, PgConnection):
        con.session_unlock(name)


def is_postgres(con: Any) -> bool:
    """Whether ``con`` is a PostgreSQL connection (else DuckDB)."""
    return isinstance(con, PgConnection)


def lock_row(con: Any, table: str, key_column: str, key: Any) -> None:
    """On PostgreSQL, lock one row (``SELECT … FOR UPDATE``) until the transaction ends; nothing on DuckDB."""
    if isinstance(con, PgConnection):
        from psycopg import sql as psql

        con.raw.execute(psql.SQL("SELECT 1 FROM {} WHERE {} = %s FOR UPDATE").format(
            psql.Identifier(table), psql.Identifier(key_column)), [key])
