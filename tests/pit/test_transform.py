"""pit's SQL transform engine (spec §2.8, K19): models compiled with pit's MSSQL templates, byte for byte against
expected files derived from pit's templates (`transform_ws/expected/`), one sql task per model, pit's stub run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pit.conftest import load_errors, run_pit, workspace
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.pit.transform import compile_models

FIXTURE = Path(__file__).parent / "transform_ws"
EXPECTED = FIXTURE / "expected"
ORDER = ["stg_customers", "stg_orders", "dim_customers", "fct_order_status", "fct_daily_revenue"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the transform project and no secrets file: pit's stub mode."""
    folder = tmp_path_factory.mktemp("transform")
    shutil.copytree(FIXTURE / "projects", folder / "projects")
    return folder


def expected(name: str) -> bytes:
    return (EXPECTED / f"{name}.sql").read_bytes()


def test_models_compile_to_pits_sql_byte_for_byte(root: Path) -> None:
    result = compile_models(root / "projects" / "warehouse", "mssql", {"fct_daily_revenue": ("land_raw",)})
    # pit's order: dependencies first, otherwise by name; the ephemeral model keeps its place but compiles to nothing
    assert list(result.order) == [*ORDER[:4], "int_paid_orders", "fct_daily_revenue"]
    assert [m.name for m in result.compiled] == ORDER
    for model in result.compiled:
        assert (model.compiled or "").encode() == expected(model.name), model.name
    assert result.stored_procedure("pit_warehouse").encode() == expected("pit_warehouse")


def test_one_sql_task_per_model_before_the_other_tasks(root: Path) -> None:
    graphs, errors = load_graphs(root)
    assert not errors, [e.render() for e in errors]
    (graph,) = [g for g in graphs if g.name == "warehouse"]
    assert sorted(t.key for t in graph.tasks) == sorted([*ORDER, "land_raw", "notify"])  # no ephemeral task
    by_key = graph.by_key
    # deps from refs (the ephemeral model is inlined, so its own refs count) plus the entry's extra depends_on
    assert by_key["dim_customers"].deps == ("stg_orders", "stg_customers")
    assert by_key["fct_daily_revenue"].deps == ("dim_customers", "land_raw")
    assert by_key["notify"].deps == ("fct_daily_revenue", "dim_customers")
    assert by_key["fct_daily_revenue"].retries == 2 and by_key["fct_daily_revenue"].retry_delay == 1.0
    meta = by_key["fct_daily_revenue"].metadata
    assert meta["pit/sql"].encode() == expected("fct_daily_revenue")
    assert meta["pit/materialization"] == "incremental" and meta["pit/strategy"] == "merge"
    assert meta["pit/relation"] == "[mart].[fct_daily_revenue]"
    assert meta["pit/model_file"] == "models/marts/daily/fct_daily_revenue.sql"
    assert by_key["stg_orders"].kinds == {"pit", "sql", "mssql"}


def test_a_run_compiles_into_the_snapshot_and_runs_as_pits_stub(root: Path, instance) -> None:
    run = run_pit(root, "warehouse", instance)
    assert run.success, run.report
    assert run.report["task_order"] == [*ORDER, "land_raw", "notify"]  # pit's task list: models first
    compiled = run.folder / "project" / "compiled_models"
    assert sorted(p.name for p in compiled.iterdir()) == sorted(f"{name}.sql" for name in ORDER)
    for name in ORDER:
        assert (compiled / f"{name}.sql").read_bytes() == expected(name)
        script = compiled / f"{name}.sql"
        assert run.log(name) == (
            "[sql-stub] would execute against configured connection:\n"
            f"--- {script} ---\n{expected(name).decode()}\n--- end ---\n"
        )
        assert run.metadata_of(name)["pit/sql_stub"] is True
    assert sorted(run.materialized()) == sorted(f"warehouse/{name}" for name in [*ORDER, "land_raw", "notify"])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"models/a.sql": "select 1"}, 'transform models: model "a" has no materialization configured'),
        (
            {"models/a.sql": "select 1", "models/m.toml": '[defaults]\nmaterialization = "table"\n'},
            'transform models: model "a" has no schema configured',
        ),
        (
            {
                "models/x/a.sql": "select * from {{ ref 'b' }}",
                "models/d.toml": '[defaults]\nmaterialization = "view"\nschema = "s"\n',
            },
            'transform models: building model DAG: model "a" references unknown model "b" via ref()',
        ),
        (
            {
                "models/a.sql": "select * from {{ ref 'b' }}",
                "models/b.sql": "select * from {{ ref 'a' }}",
                "models/d.toml": '[defaults]\nmaterialization = "view"\nschema = "s"\n',
            },
            "transform models: building model DAG: cycle detected in model dependencies (a, b)",
        ),
        (
            {
                "models/a.sql": "select 1",
                "models/d.toml": '[defaults]\nmaterialization = "incremental"\nschema = "s"\nunique_key = "id"\n',
            },
            "unique_key must be an array of strings, not str",
        ),
    ],
)
def test_models_that_do_not_compile_are_load_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    toml = '[dag]\nname = "t"\n[dag.sql]\nconnection = "dw"\n[dag.transform]\ndialect = "mssql"\n'
    root = workspace(tmp_path, {"projects/t/pit.toml": toml, **{f"projects/t/{k}": v for k, v in files.items()}})
    assert message in load_errors(root)
