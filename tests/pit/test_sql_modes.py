"""pit `load` modes on SQLite, DuckDB and PostgreSQL: each mode twice in a row, into a missing table, an
existing one and one with another schema; and the bundled `orders_sdk` example run twice."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO
from tests.pit.conftest import run_pit
from tests.servers import postgres_server
from trakt_dagster.pit.sql import SqlError, create_engine, load_parquet, save_query

MODES = ("append", "truncate_and_load", "create_or_replace")
ROWS = {"id": [1, 2, 3], "name": ["a", "b", "c"]}


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server("pit", "warehouse") as port:
        yield f"postgresql://pit@127.0.0.1:{port}/warehouse"


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(connection string, table name) of a fresh database (PostgreSQL: a fresh schema per test)."""
    if request.param == "sqlite":
        return "sqlite:///db/w.sqlite", "orders"
    if request.param == "duckdb":
        return "duckdb:///db/w.duckdb", "mart.orders"
    url = request.getfixturevalue("postgres_url")
    schema = f"s_{tmp_path.name.lower().replace('-', '_')[-40:]}"
    return url, f"{schema}.orders"


def parquet(folder: Path, columns: dict[str, list]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def rows_of(url: str, table: str, base: Path) -> list[tuple]:
    engine = create_engine(url, base)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").fetchall()]
    finally:
        engine.dispose()


def execute(url: str, sql: str, base: Path) -> None:
    engine = create_engine(url, base)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


EXPECTED = [(1, "a"), (2, "b"), (3, "c")]


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_twice_into_a_missing_table(database: tuple[str, str], mode: str, tmp_path: Path) -> None:
    url, table = database
    path = parquet(tmp_path / "data", ROWS)
    assert load_parquet(path, url, table, None, mode, tmp_path) == 3
    assert rows_of(url, table, tmp_path) == EXPECTED  # created from the file
    assert load_parquet(path, url, table, None, mode, tmp_path) == 3  # the table exists now
    expected = sorted(EXPECTED * 2) if mode == "append" else EXPECTED
    assert rows_of(url, table, tmp_path) == expected


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_twice_into_an_existing_table(database: tuple[str, str], mode: str, tmp_path: Path) -> None:
    url, table = database
    schema = table.split(".")[0] if "." in table else None
    if schema:
        execute(url, f'CREATE SCHEMA IF NOT EXISTS "{schema}"', tmp_path)
    execute(url, f"CREATE TABLE {table} (id INTEGER, name VARCHAR(10), note VARCHAR(10))", tmp_path)
    execute(url, f"INSERT INTO {table} VALUES (0, 'z', 'old')", tmp_path)
    path = parquet(tmp_path / "data", ROWS)
    for _ in range(2):
        assert load_parquet(path, url, table, None, mode, tmp_path) == 3
    got = rows_of(url, table, tmp_path)
    if mode == "append":  # the existing row stays; the table's extra column is empty for loaded rows
        assert got == [(0, "z", "old"), *sorted(r + (None,) for r in EXPECTED * 2)]
    elif mode == "truncate_and_load":
        assert got == [(*r, None) for r in EXPECTED]
    else:  # recreated from the file: the old column is gone
        assert got == EXPECTED


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_against_a_table_of_another_schema(database: tuple[str, str], mode: str, tmp_path: Path) -> None:
    url, table = database
    schema = table.split(".")[0] if "." in table else None
    if schema:
        execute(url, f'CREATE SCHEMA IF NOT EXISTS "{schema}"', tmp_path)
    execute(url, f"CREATE TABLE {table} (code VARCHAR(10))", tmp_path)
    execute(url, f"INSERT INTO {table} VALUES ('kept')", tmp_path)
    path = parquet(tmp_path / "data", ROWS)
    for _ in range(2):
        if mode == "create_or_replace":
            assert load_parquet(path, url, table, None, mode, tmp_path) == 3
            assert rows_of(url, table, tmp_path) == EXPECTED
        else:
            with pytest.raises(SqlError, match=r"has no column\(s\) id, name .*create_or_replace"):
                load_parquet(path, url, table, None, mode, tmp_path)
            assert rows_of(url, table, tmp_path) == [("kept",)]  # one transaction: nothing changed


def test_duckdb_unqualified_table_beside_a_same_named_one_in_another_schema(tmp_path: Path) -> None:
    path = parquet(tmp_path / "data", ROWS)
    url = "duckdb:///w.duckdb"
    load_parquet(path, url, "reporting.orders", None, "create_or_replace", tmp_path)
    for mode in MODES:  # `orders` in main is not `reporting.orders`
        load_parquet(path, url, "orders", None, mode, tmp_path)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        assert conn.execute("select count(*) from main.orders").fetchone() == (3,)
        assert conn.execute("select count(*) from reporting.orders").fetchone() == (3,)


def test_save_writes_parquet_with_the_umask_mode_and_no_temp_file(tmp_path: Path) -> None:
    import os

    url = "sqlite:///w.sqlite"
    execute(url, "CREATE TABLE t (a INTEGER)", tmp_path)
    target = tmp_path / "data" / "t.parquet"
    old = os.umask(0o022)
    try:
        assert save_query("select 1 as a", url, target, tmp_path) == 1
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["t.parquet"]


@pytest.mark.slow
def test_bundled_orders_sdk_example_runs_twice(tmp_path: Path, instance) -> None:
    root = tmp_path / "ws"
    shutil.copytree(REPO / "projects" / "orders_sdk", root / "projects" / "orders_sdk")
    shutil.copy(REPO / "projects" / "demo-secrets.toml", root / "projects" / "demo-secrets.toml")
    shutil.copy(REPO / "pit_config.toml", root / "pit_config.toml")
    for attempt in range(2):  # create_or_replace into DuckDB, the second time over the existing table
        run = run_pit(root, "orders_sdk", instance)
        assert run.success, (attempt, run.report)
    with duckdb.connect(str(root / "warehouse" / "examples.duckdb"), read_only=True) as conn:
        count = conn.execute("select count(*) from reporting.customer_totals").fetchone()[0]
    assert count > 0
