"""pit dbt tasks: manifest reading and caching, profiles, and dbt runs, against real dbt-duckdb projects.

dbt invocations cost seconds, so the parsed project and each dbt run are module-scoped fixtures shared by
the tests that look at them (one parse, one failing parse, two concurrent builds, one selected run, one bad
profile, one cancelled start).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import write_files
from trakt_dagster.pit.dbt import (
    DbtNodeResult,
    DbtProfileError,
    DbtProjectError,
    DbtProjectInfo,
    DbtRunOutcome,
    read_dbt_project,
    run_dbt,
    selection_args,
    summary_line,
    write_profiles,
)
from trakt_dagster.pit.dbt_project import manifest_cache_key

PROJECT = {
    "dbt_project.yml": """
        name: shop
        version: "1.0"
        profile: shop_profile
        seed-paths: ["seeds"]
        model-paths: ["models"]
        test-paths: ["tests"]
    """,
    "seeds/raw_orders.csv": "id,amount\n1,10\n2,20\n3,30\n",
    "models/stg_orders.sql": "select id, amount from {{ ref('raw_orders') }}\n",
    # no default for PIT_RUN_ID: parsing must work without it, runs must see it
    "models/orders.sql": """
        {{ config(materialized='table') }}
        select id, amount * 2 as amount2, '{{ env_var("PIT_RUN_ID") }}' as run_id from {{ ref('stg_orders') }}
    """,
    "models/schema.yml": """
        version: 2
        sources:
          - name: raw
            tables:
              - name: events
        models:
          - name: orders
            description: Orders mart
            columns:
              - name: id
                tests: [not_null, unique]
    """,
    "tests/orders_match_staging.sql": """
        select o.id from {{ ref('orders') }} o left join {{ ref('stg_orders') }} s on o.id = s.id where s.id is null
    """,
}
FAILING_TEST = {
    "models/run_info.sql": "select '{{ env_var(\"PIT_RUN_ID\") }}' as run_id\n",
    "models/stg_checks.yml": """
        version: 2
        models:
          - name: stg_orders
            columns:
              - name: id
                tests:
                  - accepted_values:
                      arguments:
                        values: [1, 2]
    """,
}
ACCEPTED = "test.shop.accepted_values_stg_orders_id__1__2.c10f7f8f4d"
SECRET = "S3cr3t-pw"


@dataclass
class Run:
    outcome: DbtRunOutcome
    database: Path
    lines: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def texts(self) -> list[str]:
        return [text for _, text in self.lines]


@pytest.fixture(scope="module", autouse=True)
def no_pit_variables() -> Iterator[None]:
    """pit's task variables are only set for dbt's process, never in this one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PIT_RUN_ID", raising=False)
        yield


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def project(work: Path) -> Path:
    return write_files(work / "shop", PROJECT)


@pytest.fixture(scope="module")
def cache_dir(work: Path) -> Path:
    return work / "cache"


@pytest.fixture(scope="module")
def info(project: Path, cache_dir: Path) -> DbtProjectInfo:
    return read_dbt_project(project, adapter="dbt-duckdb", cache_dir=cache_dir)


def dbt_run(project: Path, base: Path, args: list[str], **kwargs: object) -> Run:
    """Write a DuckDB profile for `base/warehouse.duckdb` and run dbt in `project`, collecting lines."""
    profiles = write_profiles(
        base / "profiles",
        profile="shop_profile",
        threads="2",
        adapter="dbt-duckdb",
        connection={"database": "warehouse.duckdb"},
        base_dir=base,
    )
    lines: list[tuple[str, str]] = []
    started = time.monotonic()
    outcome = run_dbt(
        args,
        project_dir=project,
        profiles_dir=profiles.parent,
        profile="shop_profile",
        target="prod",
        target_path=base / "target",
        on_line=lambda level, text: lines.append((level, text)),
        **kwargs,  # type: ignore[arg-type]
    )
    return Run(outcome, base / "warehouse.duckdb", lines, time.monotonic() - started)


@pytest.fixture(scope="module")
def builds(project: Path, work: Path) -> dict[str, Run]:
    """`dbt build` of the project and of its failing variant, at the same time (each its own PIT_RUN_ID)."""
    variant = write_files(work / "shop_failing", {**PROJECT, **FAILING_TEST})
    with ThreadPoolExecutor(2) as pool:
        ok = pool.submit(dbt_run, project, work / "build", ["build"], env={"PIT_RUN_ID": "run-42"})
        failing = pool.submit(dbt_run, variant, work / "failing", ["build"], env={"PIT_RUN_ID": "run-43"})
        return {"ok": ok.result(), "failing": failing.result()}


@pytest.fixture(scope="module")
def build(builds: dict[str, Run]) -> Run:
    return builds["ok"]


@pytest.fixture(scope="module")
def failing_build(builds: dict[str, Run]) -> Run:
    return builds["failing"]


# ---------------------------------------------------------------- read_dbt_project


def test_nodes_come_in_topological_order_with_project_dependencies(info: DbtProjectInfo) -> None:
    assert [(n.unique_id, n.resource_type, n.depends_on) for n in info.nodes] == [
        ("seed.shop.raw_orders", "seed", ()),
        ("model.shop.stg_orders", "model", ("seed.shop.raw_orders",)),
        ("model.shop.orders", "model", ("model.shop.stg_orders",)),
    ]
    orders = info.node("orders")
    assert (orders.materialized, orders.description, orders.original_file_path) == (
        "table",
        "Orders mart",
        "models/orders.sql",
    )
    assert info.node("stg_orders").materialized == "view"


def test_project_name_profile_and_sources(info: DbtProjectInfo, project: Path) -> None:
    assert (info.project_name, info.profile_name, info.project_dir) == ("shop", "shop_profile", project)
    assert info.sources == ("raw.events",)
    assert info.unattached_tests == ()


def test_generic_tests_are_attached_to_the_mart(info: DbtProjectInfo) -> None:
    generic = [t for t in info.node("orders").tests if t.column_name]
    assert [(t.name, t.column_name, t.severity, t.depends_on) for t in generic] == [
        ("not_null_orders_id", "id", "ERROR", ("model.shop.orders",)),
        ("unique_orders_id", "id", "ERROR", ("model.shop.orders",)),
    ]
    assert info.node("stg_orders").tests == ()
    assert info.node("raw_orders").tests == ()


def test_singular_test_on_two_models_belongs_to_the_downstream_one(info: DbtProjectInfo) -> None:
    (singular,) = [t for t in info.node("orders").tests if t.name == "orders_match_staging"]
    assert singular.column_name is None
    assert sorted(singular.depends_on) == ["model.shop.orders", "model.shop.stg_orders"]


def test_parsing_needs_no_pit_variables_and_leaves_the_project_clean(info: DbtProjectInfo, project: Path) -> None:
    assert "PIT_RUN_ID" not in os.environ
    assert info.node("orders").name == "orders"  # orders.sql reads env_var("PIT_RUN_ID") without a default
    assert sorted(p.name for p in project.iterdir()) == ["dbt_project.yml", "models", "seeds", "tests"]


def test_manifest_cache_is_hit_by_a_copy_of_the_project(
    info: DbtProjectInfo, work: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert info.manifest_path is not None and info.manifest_path.is_file()
    assert info.manifest_path.parent == cache_dir
    copy = shutil.copytree(info.project_dir, work / "shop_copy")

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("dbt parse ran although the manifest was cached")

    monkeypatch.setattr("trakt_dagster.pit.dbt_project._parse_manifest", no_parse)
    again = read_dbt_project(copy, adapter="dbt-duckdb", cache_dir=cache_dir)
    assert again.manifest_path == info.manifest_path
    assert again.project_dir == copy
    assert again.nodes == info.nodes
    assert list(cache_dir.glob("*.json")) == [info.manifest_path]


def test_cache_key_follows_file_contents_and_ignores_dbt_outputs(project: Path, work: Path) -> None:
    copy = shutil.copytree(project, work / "shop_key")
    key = manifest_cache_key(copy, adapter="dbt-duckdb")
    assert key == manifest_cache_key(project, adapter="dbt-duckdb")
    write_files(
        copy, {"target/manifest.json": "{}", "logs/dbt.log": "x", ".git/HEAD": "ref", "dbt_packages/p.yml": "a"}
    )
    assert manifest_cache_key(copy, adapter="dbt-duckdb") == key
    write_files(copy, {"models/logs/extra.sql": "select 1 as x"})  # `logs` below the top level is a model folder
    assert manifest_cache_key(copy, adapter="dbt-duckdb") != key
    (copy / "models/logs/extra.sql").unlink()
    (copy / "models/stg_orders.sql").write_text("select id from {{ ref('raw_orders') }}\n")
    assert manifest_cache_key(copy, adapter="dbt-duckdb") != key


def test_jinja_error_is_a_project_error_naming_the_model_file(project: Path, work: Path) -> None:
    broken = shutil.copytree(project, work / "shop_broken")
    write_files(broken, {"models/broken.sql": "select {{ ref('stg_orders' }} as x\n"})
    cache = work / "cache_broken"
    with pytest.raises(DbtProjectError) as raised:
        read_dbt_project(broken, adapter="dbt-duckdb", cache_dir=cache)
    error = raised.value
    assert "Compilation Error in model broken (models/broken.sql)" in error.message
    assert "ref('stg_orders' }}" in error.message  # dbt's own excerpt of the bad line
    assert error.file == broken / "models" / "broken.sql"
    assert "Jinja" in error.hint
    assert not list(cache.glob("*.json"))


def test_folder_without_dbt_project_yml_is_a_project_error(work: Path) -> None:
    empty = work / "not_dbt"
    empty.mkdir()
    with pytest.raises(DbtProjectError, match="dbt_project.yml not found") as raised:
        read_dbt_project(empty, adapter="dbt-duckdb", cache_dir=work / "cache_unused")
    assert raised.value.file == empty / "dbt_project.yml"
    assert "[dag.dbt] project_dir" in raised.value.hint


def test_unsupported_adapter_is_a_project_error(project: Path, work: Path) -> None:
    with pytest.raises(DbtProjectError, match="dbt-snowflake"):
        read_dbt_project(project, adapter="dbt-snowflake", cache_dir=work / "cache_unused")


# ---------------------------------------------------------------- write_profiles


def read_profile(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_duckdb_profile_resolves_the_database_file_against_base_dir(tmp_path: Path) -> None:
    path = write_profiles(
        tmp_path / "p",
        profile="shop",
        threads="4",
        adapter="dbt-duckdb",
        connection={"database": "data/wh.duckdb"},
        base_dir=tmp_path / "project",
    )
    assert path == tmp_path / "p" / "profiles.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_profile(path) == {
        "shop": {
            "target": "prod",
            "outputs": {
                "prod": {
                    "type": "duckdb",
                    "path": str(tmp_path / "project" / "data" / "wh.duckdb"),
                    "schema": "main",
                    "threads": 4,
                }
            },
        }
    }


def test_duckdb_profile_without_connection_uses_a_file_named_after_the_profile(tmp_path: Path) -> None:
    path = write_profiles(
        tmp_path, profile="sales", target="dev", threads=None, adapter="dbt-duckdb", connection=None, base_dir=tmp_path
    )
    output = read_profile(path)["sales"]["outputs"]["dev"]
    assert (output["path"], output["schema"], output["threads"]) == (str(tmp_path / "sales.duckdb"), "main", 1)
    assert read_profile(path)["sales"]["target"] == "dev"


def test_postgres_profile_from_the_connection_secret(tmp_path: Path) -> None:
    path = write_profiles(
        tmp_path,
        profile="sales",
        threads="",
        adapter="dbt-postgres==1.9.0",
        connection={"host": "db.local", "database": "wh", "user": "etl", "password": SECRET},
        base_dir=tmp_path,
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_profile(path)["sales"]["outputs"]["prod"] == {
        "type": "postgres",
        "host": "db.local",
        "port": 5432,
        "dbname": "wh",
        "schema": "public",
        "user": "etl",
        "password": SECRET,
        "threads": 1,
    }


def test_sqlserver_profile_uses_the_workspace_driver(tmp_path: Path) -> None:
    path = write_profiles(
        tmp_path,
        profile="sales",
        threads="3",
        adapter="dbt-sqlserver",
        connection={"host": "sql.local", "port": "14330", "database": "wh", "user": "etl", "password": SECRET},
        base_dir=tmp_path,
        driver="ODBC Driver 18 for SQL Server",
    )
    output = read_profile(path)["sales"]["outputs"]["prod"]
    assert {k: output[k] for k in ("type", "driver", "server", "port", "schema", "encrypt", "trust_cert")} == {
        "type": "sqlserver",
        "driver": "ODBC Driver 18 for SQL Server",
        "server": "sql.local",
        "port": 14330,
        "schema": "dbo",
        "encrypt": True,
        "trust_cert": True,
    }


def test_postgres_without_connection_names_the_missing_setting(tmp_path: Path) -> None:
    with pytest.raises(DbtProfileError, match=r"\[dag\.dbt\] connection"):
        write_profiles(tmp_path, profile="s", threads=None, adapter="dbt-postgres", connection=None, base_dir=tmp_path)
    assert not (tmp_path / "profiles.yml").exists()


def test_unsupported_adapter_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(DbtProfileError) as raised:
        write_profiles(tmp_path, profile="s", threads=None, adapter="dbt-bigquery", connection={}, base_dir=tmp_path)
    assert "dbt-bigquery" in str(raised.value)
    assert all(name in str(raised.value) for name in ("dbt-duckdb", "dbt-postgres", "dbt-sqlserver"))


@pytest.mark.parametrize(
    ("connection", "threads", "expected"),
    [
        ({"host": "h", "database": "d", "user": "u", "password": SECRET, "port": SECRET}, "1", "'port'"),
        ({"database": "d", "user": "u", "password": SECRET}, "1", "'host'"),
        ({"host": "h", "database": "d", "user": "u", "password": SECRET}, "four", "threads"),
    ],
)
def test_profile_errors_name_the_field_but_never_the_password(
    tmp_path: Path, connection: dict[str, str], threads: str, expected: str
) -> None:
    with pytest.raises(DbtProfileError) as raised:
        write_profiles(
            tmp_path, profile="s", threads=threads, adapter="dbt-postgres", connection=connection, base_dir=tmp_path
        )
    assert expected in str(raised.value)
    assert SECRET not in str(raised.value) and SECRET not in repr(raised.value.args)


# ---------------------------------------------------------------- run_dbt


def test_build_materializes_into_the_connection_database(build: Run) -> None:
    assert build.outcome.success, build.outcome.error
    with duckdb.connect(str(build.database), read_only=True) as con:
        assert con.execute("select id, amount2 from main.orders order by id").fetchall() == [(1, 20), (2, 40), (3, 60)]


def test_concurrent_builds_each_see_their_pit_run_id_without_leaking_it(build: Run, failing_build: Run) -> None:
    with duckdb.connect(str(build.database), read_only=True) as con:
        assert con.execute("select distinct run_id from main.orders").fetchall() == [("run-42",)]
    with duckdb.connect(str(failing_build.database), read_only=True) as con:
        assert con.execute("select run_id from main.run_info").fetchall() == [("run-43",)]
    assert "PIT_RUN_ID" not in os.environ


def test_build_returns_a_result_per_node(build: Run) -> None:
    results = build.outcome.results
    assert (build.outcome.returncode, build.outcome.error, build.outcome.cancelled) == (0, None, False)
    assert {uid: r.status for uid, r in results.items()} == {
        "seed.shop.raw_orders": "success",
        "model.shop.stg_orders": "success",
        "model.shop.orders": "success",
        "test.shop.not_null_orders_id.84ef11d8fe": "pass",
        "test.shop.unique_orders_id.1360ecc70e": "pass",
        "test.shop.orders_match_staging": "pass",
    }
    seed = results["seed.shop.raw_orders"]
    assert (seed.rows_affected, seed.message, seed.resource_type, seed.name) == (3, "INSERT 3", "seed", "raw_orders")
    assert results["test.shop.unique_orders_id.1360ecc70e"].failures == 0
    assert all(r.execution_time > 0 for r in results.values())


def test_build_streams_dbt_lines_and_pit_summary_lines(build: Run) -> None:
    texts = build.texts()
    assert "Running with dbt=1.11.16" in texts
    assert any(t.startswith("Done. PASS=6") for t in texts)
    assert not any("\x1b[" in t for t in texts)  # no colour codes in task logs
    summaries = [(lvl, t) for lvl, t in build.lines if t.split(" ", 1)[0] in ("OK", "PASS")]
    assert sorted(t.rsplit(" (", 1)[0] for _, t in summaries) == [
        "OK model orders",
        "OK model stg_orders",
        "OK seed raw_orders",
        "PASS test not_null_orders_id",
        "PASS test orders_match_staging",
        "PASS test unique_orders_id",
    ]
    assert {lvl for lvl, _ in summaries} == {"info"}
    (seed_line,) = [t for _, t in summaries if t.startswith("OK seed")]
    assert seed_line.endswith("s, 3 rows)")


def test_failing_test_is_fail_and_its_downstream_is_skipped(failing_build: Run) -> None:
    outcome = failing_build.outcome
    assert (outcome.success, outcome.returncode) == (False, 1)
    failed = outcome.results[ACCEPTED]
    assert (failed.status, failed.failures) == ("fail", 1)
    assert outcome.results["model.shop.orders"].status == "skipped"
    assert outcome.results["model.shop.stg_orders"].status == "success"
    (fail_line,) = [t for lvl, t in failing_build.lines if lvl == "error" and t.startswith("FAIL ")]
    assert fail_line.startswith("FAIL test accepted_values_stg_orders_id__1__2 (")
    assert fail_line.endswith("s, 1 failure): Got 1 result, configured to fail if != 0")
    assert ("warn", "SKIP model orders") in failing_build.lines
    assert "Failure in test accepted_values_stg_orders_id__1__2" in (outcome.error or "")


def test_selected_run_runs_only_the_selected_model(build: Run, project: Path, work: Path) -> None:
    run = dbt_run(project, work / "build", ["run", *selection_args(["stg_orders"])], env={"PIT_RUN_ID": "x"})
    assert run.outcome.success, run.outcome.error
    assert list(run.outcome.results) == ["model.shop.stg_orders"]


def test_bad_profile_fails_with_dbt_error_text_and_masked_secrets(project: Path, work: Path) -> None:
    profiles = work / "bad_profiles"
    write_files(
        profiles,
        {
            "profiles.yml": f"""
                shop_profile:
                  target: prod
                  outputs:
                    prod: {{type: duckdb, path: "{work / "bad.duckdb"}", extensions: "{SECRET}", threads: 1}}
            """
        },
    )
    lines: list[tuple[str, str]] = []
    outcome = run_dbt(
        ["build"],
        project_dir=project,
        profiles_dir=profiles,
        profile="shop_profile",
        target="prod",
        target_path=work / "bad_target",
        env={"PIT_RUN_ID": "x"},
        on_line=lambda level, text: lines.append((level, text)),
        secrets=[SECRET],
    )
    assert (outcome.success, outcome.results) == (False, {})
    assert outcome.returncode == 2
    assert 'Credentials in profile "shop_profile", target "prod" invalid' in (outcome.error or "")
    assert "***" in (outcome.error or "")  # dbt quotes the bad value: masked
    assert SECRET not in (outcome.error or "") and not any(SECRET in t for _, t in lines)


def test_missing_profiles_file_fails_before_dbt_starts(project: Path, work: Path) -> None:
    empty = work / "no_profiles"
    empty.mkdir()
    outcome = run_dbt(
        ["build"], project_dir=project, profiles_dir=empty, profile="p", target="prod", target_path=work / "t0"
    )
    assert (outcome.success, outcome.returncode, outcome.results) == (False, -1, {})
    assert "profiles.yml" in (outcome.error or "")


def test_cancel_from_on_start_stops_dbt_before_it_builds(project: Path, work: Path) -> None:
    base = work / "cancelled"
    run = dbt_run(project, base, ["build"], env={"PIT_RUN_ID": "x"}, on_start=lambda cancel: cancel())
    assert (run.outcome.success, run.outcome.cancelled, run.outcome.results) == (False, True, {})
    assert run.outcome.returncode != 0
    assert "cancelled" in (run.outcome.error or "")
    assert not run.database.exists()
    # cancelled before dbt wrote a line: killed at once, not asked to stop (a signal during start-up is lost)
    assert run.outcome.returncode == -signal.SIGKILL
    assert not any("Running with dbt" in text for _, text in run.lines)


# ---------------------------------------------------------------- pure helpers


def test_selection_args_joins_unique_names_and_refuses_an_empty_selection() -> None:
    assert selection_args(["orders", "stg_orders", "orders"]) == ["--select", "orders stg_orders"]
    with pytest.raises(ValueError, match="whole project"):
        selection_args([])


def test_summary_lines_for_error_and_skip() -> None:
    error = DbtNodeResult("model.shop.orders", "error", "Binder Error: x\nmore", 0.5, None, None, "model", "orders")
    assert summary_line(error) == ("error", "ERROR model orders (0.50s): Binder Error: x")
    skipped = DbtNodeResult("model.shop.orders", "skipped", None, 0.0, None, None)
    assert summary_line(skipped) == ("warn", "SKIP model orders")
