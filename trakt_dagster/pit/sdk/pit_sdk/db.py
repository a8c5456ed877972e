"""SQL queries run by the task itself (no socket): results as Arrow, pandas or polars, or straight to Parquet.

Connection URLs: `sqlite:///path` (standard library), `duckdb:///path` (duckdb), `postgresql://…` /
`postgres://…` (connectorx, else SQLAlchemy, else psycopg2). Any other scheme works only when `connectorx`
is installed in the project (as in pit's own SDK).
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlsplit

from pit_sdk._deps import require
from pit_sdk.data import _write_table

__all__ = ["output_sql", "read_sql"]

_RETURN_TYPES = ("arrow", "pandas", "polars")


def read_sql(conn: str, query: str, *, return_type: str = "arrow") -> Any:
    """Run `query` on the database at the URL `conn`; a pyarrow Table, pandas or polars DataFrame.

    Example:
        >>> table = read_sql("sqlite:///warehouse.db", "select * from orders")  # doctest: +SKIP
    """
    if return_type not in _RETURN_TYPES:
        raise ValueError(f"return_type must be one of {', '.join(_RETURN_TYPES)}, not {return_type!r}")
    table = _query_arrow(conn, query)
    if return_type == "pandas":
        return table.to_pandas()
    if return_type == "polars":
        polars = require("polars", "polars", "read_sql(return_type='polars')")
        return polars.from_arrow(table)
    return table


def output_sql(conn: str, query: str, name: str) -> str:
    """Run `query` and write its result to `$PIT_DATA_DIR/<name>.parquet`; the file's path.

    Example:
        >>> path = output_sql("duckdb:///warehouse.duckdb", "select * from orders", "orders")  # doctest: +SKIP
    """
    return _write_table(name, _query_arrow(conn, query))


def _query_arrow(conn: str, query: str) -> Any:
    scheme = conn.split("://", 1)[0].lower() if "://" in conn else ""
    if scheme == "sqlite":
        return _sqlite(conn, query)
    if scheme == "duckdb":
        return _duckdb(conn, query)
    connectorx = _optional("connectorx")
    if connectorx is not None and scheme:
        return connectorx.read_sql(conn, query, return_type="arrow")
    if scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"):
        return _postgres(conn, query)
    shown = f"'{scheme}://'" if scheme else "a URL without a scheme"
    raise RuntimeError(
        f"read_sql cannot connect to {shown}: supported here are sqlite:///, duckdb:/// and postgresql:// "
        "(add the 'connectorx' package to the project for other databases, e.g. mssql://)"
    )


def _path_after_scheme(conn: str) -> str:
    """`sqlite:///rel.db` → `rel.db`, `sqlite:////abs.db` → `/abs.db`, `sqlite:///:memory:` → `:memory:`."""
    rest = conn.split("://", 1)[1]
    rest = rest.split("?", 1)[0]
    if rest.startswith("/"):
        rest = rest[1:]
    return rest or ":memory:"


def _sqlite(conn: str, query: str) -> Any:
    with sqlite3.connect(_path_after_scheme(conn)) as db:
        cursor = db.execute(query)
        names = [column[0] for column in cursor.description or ()]
        rows = cursor.fetchall()
    db.close()
    return _rows_to_arrow(names, rows)


def _duckdb(conn: str, query: str) -> Any:
    duckdb = require("duckdb", "duckdb", "read_sql on duckdb:// URLs")
    require("pyarrow", "pyarrow", "read_sql")
    db = duckdb.connect(_path_after_scheme(conn))
    try:
        relation = db.sql(query)
        if relation is None:  # a statement without a result set
            return _rows_to_arrow([], [])
        for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
            fetch = getattr(relation, name, None)
            if fetch is not None:
                table = fetch()
                break
        else:  # pragma: no cover - every duckdb release has one of them
            raise RuntimeError("this duckdb version cannot return Arrow tables")
        read_all = getattr(table, "read_all", None)  # some versions return a RecordBatchReader
        return read_all() if callable(read_all) else table
    finally:
        db.close()


def _postgres(conn: str, query: str) -> Any:
    url = "postgresql" + conn[conn.index("://") :] if conn.lower().startswith("postgres://") else conn
    sqlalchemy = _optional("sqlalchemy")
    if sqlalchemy is not None:
        if "+" not in urlsplit(url).scheme:
            # SQLAlchemy's default PostgreSQL driver changes between releases: name one that is installed
            driver = next((name for name in ("psycopg2", "psycopg", "pg8000") if _optional(name) is not None), None)
            if driver is not None:
                url = f"postgresql+{driver}" + url[url.index("://") :]
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                result = connection.execute(sqlalchemy.text(query))
                names = list(result.keys())
                rows = [tuple(row) for row in result.fetchall()]
        finally:
            engine.dispose()
        return _rows_to_arrow(names, rows)
    psycopg2 = require("psycopg2", "psycopg2-binary", "read_sql on postgresql:// URLs")
    plain = url.split("+", 1)[0] + url[url.index("://") :] if "+" in urlsplit(url).scheme else url
    with psycopg2.connect(plain) as db, db.cursor() as cursor:
        cursor.execute(query)
        names = [column[0] for column in cursor.description or ()]
        rows = cursor.fetchall()
    return _rows_to_arrow(names, rows)


def _rows_to_arrow(names: list[str], rows: list[tuple[Any, ...]]) -> Any:
    pa = require("pyarrow", "pyarrow", "read_sql")
    columns = [pa.array([row[i] for row in rows]) for i in range(len(names))]
    return pa.Table.from_arrays(columns, names=names)


def _optional(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        return None
