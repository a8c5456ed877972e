"""The code location end to end: `dagster` CLI, `materialize()`, load errors, and `trakt-dagster`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from tests.conftest import dagster_home, write_files
from tests.e2e.conftest import run_cli
from trakt_dagster import PipelineLoadErrors, build_definitions

EXPECTED_TOTALS = (
    "customer_id,currency,orders,amount\n1,EUR,2,135.75\n2,EUR,2,122.0\n3,EUR,1,99.9\n3,USD,1,230.0\n4,USD,1,310.0\n"
)


def test_definitions_validate_with_dagster_cli(example_root: Path) -> None:
    done = run_cli(["dagster", "definitions", "validate", "-f", "definitions.py"], example_root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_dagster_job_execute_writes_outputs_and_manifest(example_root: Path, tmp_path: Path) -> None:
    home = dagster_home(tmp_path / "home")
    done = run_cli(
        ["dagster", "job", "execute", "-f", "definitions.py", "-j", "sales_multi_file"],
        example_root,
        env={"DAGSTER_HOME": str(home)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = example_root / "pipelines" / "sales_multi_file" / "outputs"
    assert (out / "customer_totals.csv").read_text() == EXPECTED_TOTALS
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "success"
    assert [s["step_id"] for s in manifest["steps"]] == ["clean_orders", "total_per_customer"]
    run_dir = Path(manifest["run_folder"])
    assert run_dir.parent == example_root / "runs" / "sales_multi_file"
    assert json.loads((run_dir / "manifest.json").read_text()) == manifest
    instance = dg.DagsterInstance.from_config(str(home))
    records = instance.get_run_records()
    assert [r.dagster_run.job_name for r in records] == ["sales_multi_file"]
    assert records[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS


def test_materialize_from_python(example_root: Path, tmp_path: Path) -> None:
    defs = build_definitions(example_root, runs_dir=str(tmp_path / "runs"))
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(
        assets,
        resources=defs.resources,
        selection=dg.AssetSelection.groups("customer_enrichment"),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    enriched = pd.read_csv(example_root / "pipelines" / "customer_enrichment" / "outputs" / "orders_enriched.csv")
    assert list(enriched["order_id"]) == [1, 3, 4, 5]
    assert enriched.loc[enriched["order_id"] == 4, "segment"].isna().all()
    manifest = json.loads(
        (example_root / "pipelines" / "customer_enrichment" / "outputs" / "manifest.json").read_text()
    )
    assert manifest["steps"][0]["rows_unmatched"] == 1 and manifest["steps"][0]["rows_dropped"] == 1
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert keys == {"customer_enrichment/join_customers", "customer_enrichment/orders_enriched"}


def test_asset_graph_of_examples(example_root: Path) -> None:
    defs = build_definitions(example_root)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "sales_multi_file/orders",
        "sales_multi_file/clean_orders",
        "sales_multi_file/total_per_customer",
        "sales_multi_file/orders_clean",
        "sales_multi_file/customer_totals",
        "customer_enrichment/orders",
        "customer_enrichment/customers",
        "customer_enrichment/join_customers",
        "customer_enrichment/orders_enriched",
    } <= keys
    node = graph.get(dg.AssetKey(["sales_multi_file", "clean_orders"]))
    assert {p.to_user_string() for p in node.parent_keys} == {"sales_multi_file/orders"}
    assert {"trakt", "csv"} <= set(node.kinds)
    assert node.group_name == "sales_multi_file"
    external = graph.get(dg.AssetKey(["sales_multi_file", "orders"]))
    assert not external.is_materializable
    assert external.metadata["trakt/pattern"] == "orders/*.csv"
    job_names = {j.name for j in defs.resolve_all_job_defs()}
    assert {"sales_multi_file", "customer_enrichment"} <= job_names


BROKEN = {
    "pipelines/good/pipeline.yaml": "inputs: {src: a.csv}\noutputs: {final: src}\n",
    "pipelines/good/a.csv": "id\n1\n",
    "pipelines/bad_yaml/pipeline.yaml": "inputs:\n  src: [a.csv\n",
    "pipelines/bad_step/pipeline.yaml": """
        inputs: {src: a.csv}
        steps:
          - id: s
            uses: steps.nothere
            with: {input: src, output: o}
        outputs: {final: o}
    """,
}


def test_broken_pipelines_among_good_ones_are_all_reported(tmp_path: Path) -> None:
    write_files(tmp_path, BROKEN)
    try:
        build_definitions(tmp_path, strict_load=True)
    except PipelineLoadErrors as exc:
        errors = exc.errors
    else:
        raise AssertionError("broken pipelines must fail a strict load")
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))  # the default: isolation
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"good/final", "bad_yaml/load-error", "bad_step/load-error"} <= keys
    assert defs.resolve_job_def("good").execute_in_process(raise_on_error=False).success
    files = {e.location.file.parent.name for e in errors}
    assert files == {"bad_yaml", "bad_step"}
    step_error = next(e for e in errors if e.location.file.parent.name == "bad_step")
    assert step_error.location.line == 4 and step_error.location.key == "steps[0].uses"
    assert "Failed to resolve step 's' using 'steps.nothere'" in step_error.message
    assert "run(ctx, **kwargs)" in step_error.hint
    done = run_cli(["trakt-dagster", "validate", str(tmp_path)], tmp_path)
    assert done.returncode == 1
    assert "2 pipeline load errors:" in done.stderr
    assert "bad_yaml/pipeline.yaml:3" in done.stderr and "Invalid YAML" in done.stderr
    assert "bad_step/pipeline.yaml:4 (key steps[0].uses)" in done.stderr and "fix:" in done.stderr


def test_cli_list_validate_and_run(example_root: Path, tmp_path: Path) -> None:
    listed = run_cli(["trakt-dagster", "list", str(example_root)], example_root)
    assert listed.returncode == 0, listed.stderr
    assert "sales_multi_file  [trakt]" in listed.stdout
    assert "asset: sales_multi_file/clean_orders  (step 'clean_orders')" in listed.stdout
    assert "job: customer_enrichment" in listed.stdout
    valid = run_cli(["trakt-dagster", "validate", str(example_root)], example_root)
    assert valid.returncode == 0 and "pipeline(s) valid" in valid.stdout
    ran = run_cli(
        [
            "trakt-dagster",
            "run",
            "sales_multi_file",
            "--root",
            str(example_root),
            "--select",
            "total_per_customer",
            "-q",
        ],
        example_root,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in ran.stdout.strip().splitlines())
    assert lines["status"] == "SUCCESS"
    manifest = json.loads(Path(lines["manifest"]).read_text())
    assert manifest["dagster_run_id"] == lines["run id"]
    assert manifest["asset_keys"] == ["sales_multi_file/total_per_customer"]
    missing = run_cli(["trakt-dagster", "run", "nope", "--root", str(example_root)], example_root)
    assert missing.returncode == 1 and "no pipeline 'nope'" in missing.stderr


def test_cli_version_is_the_installed_package_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = run_cli(["trakt-dagster", "--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"trakt-dagster {version('trakt-dagster')}"


def test_cli_run_against_dagster_home_records_the_run(example_root: Path, tmp_path: Path) -> None:
    home = dagster_home(tmp_path / "home")
    ran = run_cli(
        ["trakt-dagster", "run", "customer_enrichment", "--root", str(example_root), "-q"],
        example_root,
        env={"DAGSTER_HOME": str(home)},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    run_id = ran.stdout.split("run id: ", 1)[1].split()[0]
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS


def test_cli_run_step_granularity_gives_same_outputs(example_root: Path) -> None:
    ran = run_cli(
        ["trakt-dagster", "run", "sales_multi_file", "--root", str(example_root), "--granularity", "step", "-q"],
        example_root,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    out = example_root / "pipelines" / "sales_multi_file" / "outputs"
    assert (out / "customer_totals.csv").read_text() == EXPECTED_TOTALS
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["granularity"] == "step" and manifest["status"] == "success"
    assert [s["step_id"] for s in manifest["steps"]] == ["clean_orders", "total_per_customer"]


EXAMPLE_RUN_TAGS = {"event_batches": {"trakt/batch_id": "2026-04-01T08"}}
"""Run tags an example's runs get from their sensor (flowrun micro-batches carry the batch id)."""
EXAMPLE_PARTITIONS = {"OrdersNightly": "2026-03-30"}
"""Partition of the examples with partitioned jobs (the loom example is partitioned by its run date)."""


def test_every_bundled_example_runs(example_root: Path, tmp_path: Path) -> None:
    defs = build_definitions(example_root, runs_dir=str(tmp_path / "runs"))
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    assert {"sales_multi_file", "customer_enrichment", "web_events_stream", "inventory_quality", "returns_dsl"} <= set(
        jobs
    )
    assert {"api_ingest", "event_batches"} <= set(jobs)
    assert {"orders_sdk", "sqlite_reports", "dbt_shop"} <= set(jobs)
    assert {"demand_scenarios__prepare_demand", "demand_scenarios__forecast_build"} <= set(jobs)
    assert "OrdersNightly" in jobs
    with dg.DagsterInstance.ephemeral() as instance:
        for name in jobs:
            tags = EXAMPLE_RUN_TAGS.get(name, {})
            job = defs.resolve_job_def(name)
            partition = job.partitions_def.get_partition_keys()[0] if job.partitions_def else None  # one scenario
            partition = EXAMPLE_PARTITIONS.get(name, partition)
            result = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags, partition_key=partition)
            assert result.success, f"example job {name} failed"
    report = example_root / "pipelines" / "loom_orders" / "exports" / "daily_sales_2026-03-30.csv"
    assert report.read_text().startswith("sales_date,region,orders,revenue,avg_order_value,currency\n2026-03-30,")
    stock = pd.read_csv(example_root / "pipelines" / "inventory_quality" / "outputs" / "stock_published.csv")
    assert len(stock) == 7
    purchases = pd.read_csv(example_root / "pipelines" / "web_events_stream" / "outputs" / "purchases_eur.csv")
    assert set(purchases["kind"]) == {"purchase"} and len(purchases) > 100
    orders = pd.read_csv(example_root / "pipelines" / "api_ingest" / "outputs" / "orders.csv")
    quarantined = (example_root / "pipelines" / "api_ingest" / "outputs" / "quarantine.jsonl").read_text().splitlines()
    assert len(orders) > 0 and len(quarantined) > 0 and orders["order_id"].is_unique
    summary = json.loads((example_root / "pipelines" / "event_batches" / "outputs" / "2026-04-01T08.json").read_text())
    assert summary["batch_id"] == "2026-04-01T08" and summary["sessions"] > 0
    warehouse = duckdb.connect(str(example_root / "warehouse" / "examples.duckdb"), read_only=True)
    totals = warehouse.execute(
        "select customer, amount_eur from reporting.customer_totals order by customer"
    ).fetchall()
    assert [c for c, _ in totals] == ["acme", "globex", "initech"]
    shop = duckdb.connect(str(example_root / "warehouse" / "shop.duckdb"), read_only=True)
    assert shop.execute("select count(*) from customer_revenue").fetchone() == (4,)
    reports = sqlite3.connect(example_root / "warehouse" / "reports.sqlite")
    assert reports.execute("select count(*) from daily_report").fetchone()[0] > 0
    demand = tmp_path / "runs" / "demand_scenarios"
    summary = json.loads((demand / "summarise_demand" / "default" / "summary.json").read_text())
    assert summary["region"] == "North" and summary["hours"] == 48
    scenario = demand / "conductor_runs" / "Model_Runs" / "Scenario_LowGrowth_North"
    nested = json.loads((scenario / "runs" / "summarise_demand_instance" / "summary.json").read_text())
    assert nested["fits_capacity"] is True and nested["capacity_mw"] == 1100
