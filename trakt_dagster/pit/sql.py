"""SQL for pit tasks: `sql` scripts, `load` (Parquet → table) and `save` (query → Parquet), via SQLAlchemy.

Connection strings come from the secrets file. Supported: `sqlite:///<file>`, `duckdb:///<file>` and
`postgres://` / `postgresql://` URLs (psycopg2). A relative file path of SQLite/DuckDB resolves against
the workspace root, not the run's snapshot, so every run sees the same database. pit's other drivers
(`sqlserver://`, `clickhouse://`, `oracle://`) are reported as unsupported with the supported list.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trakt_dagster.core.atomic import atomic_path

LOAD_MODES = ("append", "truncate_and_load", "create_or_replace")


class SqlError(RuntimeError):
    """A connection string or SQL operation pit-dagster cannot carry out (never carries the URL)."""


def engine_url(connection: str, base_dir: Path) -> str:
    """A SQLAlchemy URL for a pit connection string.

    Example:
        >>> engine_url("postgres://u:p@db:5432/dw", Path("/ws"))
        'postgresql+psycopg2://u:p@db:5432/dw'
        >>> engine_url("sqlite:///data/app.db", Path("/ws"))
        'sqlite:////ws/data/app.db'
    """
    text = connection.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise SqlError("the connection is not a URL (scheme://...); check the secret's value")
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
        return f"postgresql+psycopg2://{rest}"
    if scheme in ("sqlite", "duckdb"):
        path = rest[1:] if rest.startswith("/") else rest
        if path in ("", ":memory:"):
            return f"{scheme}:///:memory:"
        file = Path(path)
        if not file.is_absolute():
            file = Path(base_dir) / file
        return f"{scheme}:///{file}"
    raise SqlError(
        f"unsupported database '{scheme}://': trakt-dagster runs pit SQL on sqlite://, duckdb:// and postgresql:// "
        "connections"
    )


def create_engine(connection: str, base_dir: Path) -> Any:
    """A SQLAlchemy engine for a pit connection string (see `engine_url`)."""
    import sqlalchemy

    url = engine_url(connection, base_dir)
    if url.startswith(("sqlite:///", "duckdb:///")) and ":memory:" not in url:
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    return sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)


@dataclass(frozen=True)
class SqlOutcome:
    """What running a SQL batch did.

    Example:
        >>> SqlOutcome(rows_affected=3, seconds=0.01).rows_affected
        3
    """

    rows_affected: int | None
    seconds: float


def execute_script(
    sql: str, connection: str, base_dir: Path, on_cancel: Callable[[Callable[[], None]], None] | None = None
) -> SqlOutcome:
    """Send a whole file as one statement batch (pit's sql runner) and commit.

    `on_cancel(callback)` registers how to interrupt the statement (timeouts).
    """
    engine = create_engine(connection, base_dir)
    started = time.perf_counter()
    try:
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            if on_cancel is not None:
                on_cancel(_interrupter(driver))
            cursor = raw.cursor()
            if engine.dialect.name == "sqlite":
                driver.executescript(sql)
                rows = driver.total_changes
            else:
                cursor.execute(sql)
                rows = cursor.rowcount if cursor.rowcount is not None and cursor.rowcount >= 0 else None
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()
    return SqlOutcome(rows_affected=rows, seconds=time.perf_counter() - started)


def _interrupter(driver: Any) -> Callable[[], None]:
    def stop() -> None:
        for name in ("interrupt", "cancel"):
            method = getattr(driver, name, None)
            if callable(method):
                method()
                return

    return stop


def _split_table(table: str, default_schema: str | None) -> tuple[str | None, str]:
    schema, dot, name = table.partition(".")
    return (schema, name) if dot else (default_schema or None, table)


def _quoted(schema: str | None, name: str) -> str:
    """`"schema"."name"` with embedded quotes doubled (identifiers are never taken from SQL text)."""
    parts = [p for p in (schema, name) if p]
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def _table_columns(conn: Any, dialect: str, schema: str | None, name: str) -> list[str] | None:
    """The columns of an existing table in order, or None when there is no such table.

    Asked of the database's own catalog (not SQLAlchemy's inspector, whose PostgreSQL-style queries
    DuckDB rejects, and which finds `t` in any DuckDB schema).
    """
    if dialect == "sqlite":
        rows = conn.exec_driver_sql(f"PRAGMA table_info({_quoted(None, name)})").fetchall()
        return [row[1] for row in rows] or None
    if dialect == "duckdb":
        query = (
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND lower(table_schema) = lower(coalesce($1, current_schema())) AND lower(table_name) = lower($2) "
            "ORDER BY ordinal_position"
        )
    else:
        query = (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = coalesce(%s, current_schema()) AND table_name = %s ORDER BY ordinal_position"
        )
    rows = conn.exec_driver_sql(query, (schema, name)).fetchall()
    return [row[0] for row in rows] or None


def _missing_columns(dialect: str, table_columns: list[str], file_columns: list[str]) -> list[str]:
    """File columns the table lacks (names compare case-insensitively where the database does)."""
    if dialect == "postgresql":
        have = set(table_columns)
        return [c for c in file_columns if c not in have]
    have = {c.lower() for c in table_columns}
    return [c for c in file_columns if c.lower() not in have]


def load_parquet(path: Path, connection: str, table: str, schema: str | None, mode: str, base_dir: Path) -> int:
    """Load a Parquet file into `table` (`schema.table` split on the first dot) with pit's load modes.

    `append` creates the table when missing and adds the rows; `truncate_and_load` empties it first;
    `create_or_replace` drops and recreates it from the file. An existing table that lacks columns of
    the file is an error for `append`/`truncate_and_load` (recreate it with `create_or_replace`). Each
    load is one transaction: when it fails, the table is as it was. Returns the number of rows loaded.

    Example:
        >>> # load_parquet(Path("data/totals.parquet"), "duckdb:///wh.duckdb", "mart.totals", None,
        >>> #              "create_or_replace", Path("."))
    """
    import pyarrow.parquet as pq

    if mode not in LOAD_MODES:
        raise SqlError(f'invalid load mode "{mode}": use one of {", ".join(LOAD_MODES)}')
    if not Path(path).is_file():
        raise SqlError(f"no file {Path(path).name} in the run's data folder")
    parquet = pq.ParquetFile(path)
    file_columns = list(parquet.schema_arrow.names)
    rows = parquet.metadata.num_rows
    schema_name, name = _split_table(table, schema)
    engine = create_engine(connection, base_dir)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        if schema_name not in (None, "", "main", "dbo"):
            raise SqlError(f"SQLite has no schema '{schema_name}': load into a table without a schema prefix")
        schema_name = None
    target = _quoted(schema_name, name)
    try:
        with engine.begin() as conn:
            if schema_name:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_quoted(None, schema_name)}")
            existing = _table_columns(conn, dialect, schema_name, name)
            if existing is not None and mode == "create_or_replace":
                conn.exec_driver_sql(f"DROP TABLE {target}")
                existing = None
            if existing is not None:
                missing = _missing_columns(dialect, existing, file_columns)
                if missing:
                    raise SqlError(
                        f"table {table} has no column(s) {', '.join(missing)} of {Path(path).name} "
                        f'(the table has: {", ".join(existing)}); use mode "create_or_replace" to recreate it '
                        "from the file, or change the table"
                    )
                if mode == "truncate_and_load":
                    conn.exec_driver_sql(f"DELETE FROM {target}")
            if dialect == "duckdb":
                source = "read_parquet('" + str(Path(path).resolve()).replace("'", "''") + "')"
                if existing is None:
                    conn.exec_driver_sql(f"CREATE TABLE {target} AS SELECT * FROM {source}")
                else:
                    conn.exec_driver_sql(f"INSERT INTO {target} BY NAME SELECT * FROM {source}")
            else:
                frame = parquet.read().to_pandas()
                frame.to_sql(name, conn, schema=schema_name, if_exists="append", index=False)
    finally:
        engine.dispose()
    return rows


def save_query(sql: str, connection: str, target: Path, base_dir: Path) -> int:
    """Run a query and write its result to `target` (Parquet, atomically); returns the row count."""
    import pandas as pd

    engine = create_engine(connection, base_dir)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(sql, conn)
    finally:
        engine.dispose()
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return len(frame)
