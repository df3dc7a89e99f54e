"""Moving a workspace's DuckDB catalog (catalog and ledger) into an empty PostgreSQL database.

``countersign catalog copy --to postgresql://...``: the target is migrated to the same schema, refused unless every
catalog table is empty, and filled table by table in one transaction (COPY), so a failed copy leaves it empty.
The caller then verifies the ledger there against the workspace's signed checkpoints and head.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConflictError, InputError
from governance.catalog import Catalog
from governance.catalog.postgres import PgConnection, is_postgres
from governance.catalog.records import fetch_column


@dataclass(frozen=True)
class CopyReport:
    """Rows copied per table."""

    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _tables(con: object) -> list[str]:
    return fetch_column(con, "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                             "AND table_catalog = current_database() AND table_schema = current_schema() "
                             "AND table_name <> 'schema_migrations' "
                             "ORDER BY table_name")


def copy_catalog(source: Catalog, target: Catalog) -> CopyReport:
    """Copy every table of the DuckDB catalog ``source`` into the empty PostgreSQL catalog ``target``."""
    if source.backend != "duckdb" or target.backend != "postgresql":
        raise InputError("catalog copy moves a DuckDB catalog into PostgreSQL: give a postgresql:// target URL")
    if not source.path.exists():
        raise InputError(f"{source.path}: no catalog to copy (run 'countersign sync' or 'countersign demo' first)")
    source.migrate()  # the same schema version on both sides
    target.migrate()
    rows: dict[str, int] = {}
    with target.transaction() as dst:
        assert isinstance(dst, PgConnection) and is_postgres(dst)
        wanted = _tables(dst)
        filled = [t for t in wanted if dst.execute(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0]]
        if filled:
            raise ConflictError(f"the target database already holds catalog data (tables {', '.join(filled)}): "
                                "copy into an empty database, or drop and recreate it first")
        with source.connect() as src:
            for table in _tables(src):
                if table not in wanted:
                    raise ConflictError(f"table {table!r} of the DuckDB catalog has no counterpart in PostgreSQL")
                cur = src.execute(f'SELECT * FROM "{table}"')
                columns = [d[0] for d in cur.description]
                data = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
                dst.copy_rows(table, columns, data)
                rows[table] = len(data)
    return CopyReport(rows)
