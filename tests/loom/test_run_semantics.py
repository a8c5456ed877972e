"""A loom pipeline run through Dagster by loom's own ETLRunner: outputs, temps, failures, logs (spec §6)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.loom.conftest import CONFIG, HEADER, ORDERS_FLOW, calls, loom_folder, run_loom, table

PARAMS = {"run_date": "2026-03-30"}


@pytest.fixture(scope="module")
def orders(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("orders")
    loom_folder(root, "orders", {"flow.py": ORDERS_FLOW})
    return root


def test_full_run_writes_delta_tables_the_dated_file_and_reports_every_step(orders: Path, instance) -> None:
    folder = orders / "pipelines" / "orders"
    calls(folder)
    run = run_loom(orders, "Nightly", instance, params=PARAMS)
    assert run.success, run.failure()
    assert table(folder, "raw.orders").height == 4
    assert table(folder, "mart.summary").to_dicts() == [
        {"store": "s1", "revenue": 15.0},
        {"store": "s3", "revenue": 7.0},
    ]
    assert table(folder, "mart.stores")["orders"].to_list() == [2, 1, 1]
    export = folder / "out" / "summary_2026-03-30.csv"  # IntoFile template resolved from params (row 20)
    assert export.read_text() == "store,revenue\ns1,15.0\ns3,7.0\n"
    assert sorted(calls(folder)) == ["Export", "LoadOrders", "Positive", "Stores", "Summary"]
    mats = run.materializations()
    assert set(mats) == {"raw/orders", "mart/stores", "mart/summary", "files/summary_csv"}
    assert mats["files/summary_csv"]["dagster/uri"] == str(export)
    raw = mats["raw/orders"]
    assert raw["loom/status"] == "success" and raw["dagster/row_count"] == 4
    assert raw["loom/delta_version"] >= 0 and raw["loom/duration_ms"] > 0
    assert raw["dagster/uri"] == str(folder / "lake" / "raw" / "orders")
    assert raw["loom/attempt"] == 1 and raw["loom/run_id"] == run.run_id
    manifest = run.manifest
    assert manifest["status"] == "success" and manifest["tool"] == "loom"
    assert set(run.tasks().values()) == {"success"}
    assert manifest["loom"]["include"] is None  # the whole plan: loom runs without include
    assert manifest["loom"]["steps"]["Summary"]["status"] == "success"
    assert manifest["loom"]["correlation_id"] == f"Nightly-{run.run_id}"
    assert (Path(manifest["run_folder"]) / "project" / "flow.py").exists()
    # RUN temp between the parallel group and the summary: read, then removed at the end of the call (row 1)
    checkpoints = orders / "runs" / "Nightly" / "checkpoints"
    assert not list(checkpoints.rglob("*.arrow"))


def test_step_events_become_dagster_log_lines(orders: Path, instance) -> None:
    run = run_loom(orders, "Nightly", instance, params=PARAMS)
    assert run.success, run.failure()
    messages = run.messages()
    for name in ("LoadOrders", "Positive", "Stores", "Summary", "Export"):
        assert any(f"loom step {name} started" in m for m in messages), name
        assert any(f"loom step {name} succeeded in" in m for m in messages), name
    assert any("loom pipeline Nightly started" in m and "attempt 1, last_attempt True" in m for m in messages)
    assert any("wrote " in m and "version" in m and "4 rows" in m for m in messages if "LoadOrders" in m)


def test_selecting_assets_runs_only_those_steps_and_the_temps_they_read(orders: Path, instance) -> None:
    folder = orders / "pipelines" / "orders"
    assert run_loom(orders, "Nightly", instance, params=PARAMS).success
    calls(folder)
    run = run_loom(orders, "Nightly", instance, params=PARAMS, select=["mart/summary"])
    assert run.success, run.failure()
    # Summary reads the RUN temp of Positive: loom's include gets both class names, nothing else runs
    assert sorted(calls(folder)) == ["Positive", "Summary"]
    assert run.manifest["loom"]["include"] == ["Positive", "Summary"]
    assert any("loom pipeline Nightly started (include ['Positive', 'Summary']" in m for m in run.messages())
    assert set(run.materializations()) == {"mart/summary"}
    tasks = run.manifest["tasks"]
    assert tasks["Positive"]["selected"] is False and tasks["Positive"]["status"] == "success"
    run = run_loom(orders, "Nightly", instance, params=PARAMS, select=["files/summary_csv"])
    assert run.success and sorted(calls(folder)) == ["Export"]


def test_parallel_member_failure_keeps_its_sibling_and_stops_later_steps(orders: Path, instance) -> None:
    folder = orders / "pipelines" / "orders"
    calls(folder)
    run = run_loom(orders, "Nightly", instance, params={**PARAMS, "fail": "Stores"})
    assert not run.success
    tasks = run.tasks()
    assert tasks["Stores"] == "failed"
    assert tasks["Positive"] == "success"  # the sibling in the parallel group still ran (K5)
    assert tasks["Summary"] == "skipped" and tasks["Export"] == "skipped"  # not run, never succeeded (N2)
    assert sorted(calls(folder)) == ["LoadOrders", "Positive", "Stores"]
    assert set(run.materializations()) == {"raw/orders"}  # Positive writes only a temp: no asset
    manifest = run.manifest
    assert manifest["tasks"]["Stores"]["error"]["message"] == "loom step Stores failed: RuntimeError: boom in Stores"
    assert "upstream task 'Stores' failed" in manifest["tasks"]["Summary"]["reason"]
    assert manifest["loom"]["pipeline_status"] == "failed"
    assert "Task 'Stores' failed" in run.failure()


def test_every_failure_of_a_parallel_group_is_reported(orders: Path, instance) -> None:
    run = run_loom(orders, "Nightly", instance, params={**PARAMS, "fail": "Positive,Stores"})
    assert not run.success
    manifest = run.manifest
    assert manifest["tasks"]["Positive"]["error"]["message"].endswith("RuntimeError: boom in Positive")
    assert manifest["tasks"]["Stores"]["error"]["message"].endswith("RuntimeError: boom in Stores")
    failed = next(e for e in run.result.all_events if e.is_step_failure)
    assert sorted(failed.step_failure_data.user_failure_data.metadata["failed_tasks"].value) == ["Positive", "Stores"]
    assert (
        "Also failed: " in run.failure() and "boom in Positive" in run.failure() and "boom in Stores" in run.failure()
    )
    errors = [m for m in run.messages() if m.startswith("Task '")]
    assert any("Task 'Positive' failed" in m for m in errors) and any("Task 'Stores' failed" in m for m in errors)


def test_params_from_run_config_and_their_validation(orders: Path, instance) -> None:
    folder = orders / "pipelines" / "orders"
    run = run_loom(orders, "Nightly", instance, params={"run_date": "2026-04-02", "region": "us"})
    assert run.success
    assert (folder / "out" / "summary_2026-04-02.csv").exists()
    start = next(m for m in run.messages() if "loom pipeline Nightly started" in m)
    assert "include all steps" in start and "last_attempt True" in start
    calls(folder)
    bad = run_loom(orders, "Nightly", instance, params={"run_date": "not-a-date"})
    assert not bad.success
    assert "field 'run_date' (date) got 'not-a-date'" in bad.failure()
    assert calls(folder) == []  # loom never ran
    assert bad.manifest["error"]["type"] == "ParamsError"


SHARED = (
    HEADER
    + '''

class Clean(ETLStep[P]):
    """Used by two processes."""

    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("mart.sales").append()

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Clean")
        return orders.with_columns(pl.lit(params.region).alias("region"))


class Other(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("mart.sales").append()

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Other")
        return orders.with_columns(pl.lit("other").alias("region"))


class Report(ETLStep[P]):
    sales = FromTable("mart.sales")
    target = IntoTable("mart.report")

    def execute(self, params: P, *, sales: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Report")
        return sales.group_by("region").agg(pl.len().alias("rows")).sort("region")


class Parallel(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("mart.parallel")
    barrier = threading.Barrier(2, timeout=60)

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        note("Parallel")
        type(self).barrier.wait()  # returns only when its group sibling runs at the same time
        return orders


class Sibling(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("mart.sibling")

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        note("Sibling")
        Parallel.barrier.wait()
        return orders


class First(ETLProcess[P]):
    steps = [Clean, [Parallel, Sibling]]


class Second(ETLProcess[P]):
    steps = [Clean, Other, Report]


class Shared(ETLPipeline[P]):
    processes = [First, Second]
'''
)


def test_a_step_in_two_processes_runs_twice_and_appends_feed_one_asset(tmp_path: Path, instance) -> None:
    folder = loom_folder(tmp_path, "shared", {"flow.py": SHARED})
    run = run_loom(tmp_path, "Shared", instance, params=PARAMS)
    assert run.success, run.failure()
    assert calls(folder).count("Clean") == 2  # a step class listed by two processes runs twice (row 7)
    assert table(folder, "mart.sales").height == 12  # three appends of four rows into one table
    assert set(run.materializations()) == {"mart/sales", "mart/report", "mart/parallel", "mart/sibling"}
    mat = run.materializations()["mart/sales"]
    assert mat["loom/writers"] == ["Clean", "Clean", "Other"] and mat["dagster/row_count"] == 12
    assert {"First.Clean", "Second.Clean", "Other", "table:mart.sales"} <= set(run.tasks())
    # selected once: loom's include selects by class name, so both occurrences run
    calls(folder)
    again = run_loom(tmp_path, "Shared", instance, params=PARAMS, select=["mart/sales"])
    assert again.success, again.failure()
    assert sorted(calls(folder)) == ["Clean", "Clean", "Other"]
    assert again.manifest["loom"]["include"] == ["Clean", "Other"]


def test_parallel_group_members_run_at_the_same_time(tmp_path: Path, instance) -> None:
    folder = loom_folder(tmp_path, "shared", {"flow.py": SHARED})
    run = run_loom(tmp_path, "Shared", instance, params=PARAMS, select=["mart/parallel", "mart/sibling"])
    assert run.success, run.failure()  # each member waits at a barrier for the other: only concurrency passes
    assert sorted(calls(folder)) == ["Parallel", "Sibling"]


EAGER = (
    HEADER
    + """

class EagerTable(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("raw.eager")

    def execute(self, params: P, *, orders: pl.LazyFrame):
        return orders.collect()


class EagerTemp(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTemp("eager")

    def execute(self, params: P, *, orders: pl.LazyFrame):
        return orders.collect()


class ReadEager(ETLStep[P]):
    eager = FromTemp("eager")
    target = IntoTable("raw.read_eager")

    def execute(self, params: P, *, eager: pl.LazyFrame) -> pl.LazyFrame:
        return eager


class Work(ETLProcess[P]):
    steps = [[EagerTable, EagerTemp], ReadEager]


class Eager(ETLPipeline[P]):
    processes = [Work]


class Strict(ETLStep[P]):
    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("raw.strict")

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        return orders


class StrictWork(ETLProcess[P]):
    steps = [Strict]


class MissingTable(ETLPipeline[P]):
    processes = [StrictWork]
"""
)


def test_eager_frames_fail_with_looms_own_errors(tmp_path: Path, instance) -> None:
    loom_folder(tmp_path, "eager", {"flow.py": EAGER})
    run = run_loom(tmp_path, "Eager", instance, params=PARAMS)
    assert not run.success
    errors = {k: s["error"]["message"] for k, s in run.manifest["tasks"].items() if s.get("error")}
    assert "AttributeError: 'DataFrame' object has no attribute 'collect'" in errors["EagerTable"]
    assert "TypeError: Polars backend expects polars.LazyFrame" in errors["EagerTemp"]
    assert run.tasks()["ReadEager"] == "skipped"


def test_missing_table_with_default_policy_is_looms_schema_error(tmp_path: Path, instance) -> None:
    config = CONFIG.replace("  missing_table_policy: create\n", "")
    folder = loom_folder(tmp_path, "strict", {"flow.py": EAGER}, config=config)
    run = run_loom(tmp_path, "MissingTable", instance, params=PARAMS)
    assert not run.success
    assert "loom step Strict failed: SchemaNotFoundError" in run.manifest["tasks"]["Strict"]["error"]["message"]
    (folder / "loom.yaml").write_text(CONFIG)
    created = run_loom(tmp_path, "MissingTable", instance, params=PARAMS)
    assert created.success, created.failure()
    assert pl.read_delta(str(folder / "lake" / "raw" / "strict")).height == 4


def test_materialize_from_python_with_partitions(tmp_path: Path) -> None:
    config = CONFIG + 'dagster:\n  partitions: {field: run_date, start: "2026-03-01"}\n'
    folder = loom_folder(tmp_path, "daily", {"flow.py": ORDERS_FLOW}, config=config)
    from trakt_dagster import build_definitions

    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    job = defs.resolve_job_def("Nightly")
    assert isinstance(job.partitions_def, dg.DailyPartitionsDefinition)
    assert job.partitions_def.get_first_partition_key() == "2026-03-01"
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            assets,
            resources=defs.resources,
            partition_key="2026-03-05",
            selection=dg.AssetSelection.groups("Nightly"),
            instance=instance,
        )
    assert result.success
    assert (folder / "out" / "summary_2026-03-05.csv").exists()
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "mart/summary" in keys
    partitions = {e.partition for e in result.get_asset_materialization_events()}
    assert partitions == {"2026-03-05"}
