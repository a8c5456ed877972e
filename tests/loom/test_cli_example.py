"""`trakt-dagster loom list / validate / run` and the bundled example pipeline (pipelines/loom_orders)."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tests.conftest import REPO
from tests.loom.conftest import ORDERS_FLOW, loom_folder
from trakt_dagster.cli import main as cli

EXAMPLE = REPO / "pipelines" / "loom_orders"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"DAGSTER_HOME": ""})


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A copy of the bundled example (without lake contents or reports from earlier local runs)."""
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(
        EXAMPLE,
        root / "pipelines" / "loom_orders",
        ignore=shutil.ignore_patterns("raw", "mart", "staging", "*.csv.tmp", "__pycache__", "daily_sales_*.csv"),
    )
    return root


def expected_report(run_date: str) -> str:
    """The example's report computed directly from its input files (paid orders of the day per region)."""
    regions = {row["store_id"]: row["region"] for row in csv.DictReader((EXAMPLE / "input" / "stores.csv").open())}
    amounts: dict[str, list[float]] = defaultdict(list)
    for row in csv.DictReader((EXAMPLE / "input" / "orders.csv").open()):
        if row["order_date"] == run_date and row["status"] == "paid":
            amounts[regions[row["store_id"]]].append(float(row["amount"]))
    lines = ["sales_date,region,orders,revenue,avg_order_value,currency"]
    for region in sorted(amounts):
        values = amounts[region]
        lines.append(
            f"{run_date},{region},{len(values)},{round(sum(values), 2)},{round(sum(values) / len(values), 2)},EUR"
        )
    return "\n".join(lines) + "\n"


def test_example_lists_validates_and_runs_for_a_date(example: Path) -> None:
    listed = invoke("loom", "list", str(example))
    assert listed.exit_code == 0, listed.output
    assert "OrdersNightly  [loom]" in listed.output
    assert "partitions: daily on run_date from 2026-03-28" in listed.output
    assert "step: CleanOrders [parallel 2] -> temp paid_orders (not an asset)" in listed.output
    assert "step: DailySummary -> asset mart/daily_sales" in listed.output
    valid = invoke("loom", "validate", "--root", str(example))
    assert valid.exit_code == 0 and "1 loom pipeline(s) valid: OrdersNightly" in valid.output
    ran = invoke("loom", "run", "OrdersNightly", "--root", str(example), "--param", "run_date=2026-03-30", "-q")
    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    steps = [line.strip().split(":")[0] for line in lines if line.startswith("  ")]
    assert steps == [
        "ETLRunner.run",
        "LoadOrders",
        "LoadStores",
        "CleanOrders",
        "StoreRegions",
        "DailySummary",
        "ExportSummary",
    ]
    assert all(": success" in line for line in lines if line.startswith("  "))
    report = example / "pipelines" / "loom_orders" / "exports" / "daily_sales_2026-03-30.csv"
    assert report.read_text() == expected_report("2026-03-30")
    lake = example / "pipelines" / "loom_orders" / "lake"
    assert pl.read_delta(str(lake / "raw" / "orders")).height == 48
    manifest = json.loads(Path(lines[-1].split("manifest: ", 1)[1]).read_text())
    assert manifest["asset_keys"] == [
        "raw/orders",
        "raw/stores",
        "staging/store_regions",
        "mart/daily_sales",
        "files/daily_sales_report",
    ]


def test_example_run_with_include_and_partition(example: Path) -> None:
    first = invoke("loom", "run", "OrdersNightly", "--root", str(example), "--partition", "2026-03-29", "-q")
    assert first.exit_code == 0, first.output
    report = example / "pipelines" / "loom_orders" / "exports" / "daily_sales_2026-03-29.csv"
    assert report.read_text() == expected_report("2026-03-29")
    again = invoke(
        "loom",
        "run",
        "OrdersNightly",
        "--root",
        str(example),
        "--include",
        "Publish",
        "--param",
        "run_date=2026-03-29",
        "-q",
    )
    assert again.exit_code == 0, again.output
    ran = [line.strip().split(":")[0] for line in again.output.splitlines() if line.startswith("  ")]
    assert ran == ["ETLRunner.run", "ExportSummary"]


def test_include_errors_before_anything_runs(tmp_path: Path) -> None:
    folder = loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW})
    root = str(tmp_path)
    unknown = CliRunner().invoke(
        cli, ["loom", "run", "Nightly", "--root", root, "--include", "Summary", "--include", "Nope"]
    )
    assert unknown.exit_code == 1
    assert "Unknown step or process names: ['Nope']" in unknown.output  # loom's own InvalidStageError (row 6)
    run_temp = CliRunner().invoke(cli, ["loom", "run", "Nightly", "--root", root, "--include", "Summary"])
    assert run_temp.exit_code == 1
    assert "Summary reads the RUN temp 'positive' written by Positive, which the include leaves out" in run_temp.output
    only_temp = CliRunner().invoke(cli, ["loom", "run", "Nightly", "--root", root, "--include", "Positive"])
    assert only_temp.exit_code == 1 and "write(s) only temps" in only_temp.output
    bad_param = CliRunner().invoke(cli, ["loom", "run", "Nightly", "--root", root, "--param", "nope=1"])
    assert bad_param.exit_code == 1 and "has no params field 'nope'. Fields: run_date, fail, region" in bad_param.output
    bad_date = CliRunner().invoke(cli, ["loom", "run", "Nightly", "--root", root, "--param", "run_date=31.03.2026"])
    assert bad_date.exit_code == 1 and "field 'run_date' (date) got '31.03.2026'" in bad_date.output
    assert not (folder / "calls.txt").exists()  # loom never ran


def test_run_prints_each_step_status_and_exit_code(tmp_path: Path) -> None:
    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW})
    failed = invoke(
        "loom",
        "run",
        "Nightly",
        "--root",
        str(tmp_path),
        "--param",
        "run_date=2026-03-30",
        "--param",
        "fail=Stores",
        "-q",
    )
    assert failed.exit_code == 1
    assert "  Stores: failed" in failed.output and "RuntimeError: boom in Stores" in failed.output
    assert "  Summary: skipped" in failed.output and "  Positive: success" in failed.output
    process = invoke(
        "loom", "run", "Nightly", "--root", str(tmp_path), "--include", "Daily", "--param", "run_date=2026-03-30", "-q"
    )
    assert process.exit_code == 0, process.output  # a process name keeps the whole process
    missing = invoke("loom", "run", "Nightlyy", "--root", str(tmp_path))
    assert missing.exit_code == 1 and "No loom pipeline 'Nightlyy'. Did you mean 'Nightly'?" in missing.output


def test_validate_reports_compile_errors(tmp_path: Path) -> None:
    broken = ORDERS_FLOW.replace('target = IntoTable("mart.stores")', "")
    folder = loom_folder(tmp_path, "orders", {"flow.py": broken})
    done = CliRunner().invoke(cli, ["loom", "validate", "--root", str(tmp_path)])
    assert done.exit_code == 1
    assert f"{folder / 'flow.py'}:" in done.output and "MISSING_TARGET" in done.output and "fix:" in done.output
    whole = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert whole.exit_code == 1 and "MISSING_TARGET" in whole.output


def test_run_of_a_pipeline_that_did_not_load_shows_why(tmp_path: Path) -> None:
    broken = ORDERS_FLOW.replace('target = IntoTable("mart.stores")', "")
    folder = loom_folder(tmp_path, "orders", {"flow.py": broken})
    loom_folder(tmp_path, "typo", {"flow.py": "from loom.etl import ETLPipeline\n\nclass Broken(ETLPipeline:\n"})
    done = invoke("loom", "run", "Nightly", "--root", str(tmp_path), "--param", "run_date=2026-03-30")
    assert done.exit_code == 1
    assert f"{folder / 'flow.py'}:" in done.output and "MISSING_TARGET" in done.output
    assert f"{tmp_path / 'pipelines' / 'typo' / 'flow.py'}:3" in done.output
    assert "No loom pipeline 'Nightly'." in done.output and "defined in a module that did not load" in done.output


def test_an_empty_include_never_reaches_loom(tmp_path: Path) -> None:
    from trakt_dagster.core.definitions import load_graphs
    from trakt_dagster.loom.frontend import load_pipelines
    from trakt_dagster.loom.launch import IncludeError, include_tasks

    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW})
    pipeline = load_pipelines(tmp_path)[0][0]
    graph = load_graphs(tmp_path)[0][0]
    with pytest.raises(IncludeError, match="include is empty: loom would run nothing"):
        include_tasks(pipeline, graph, [])  # row 5: never run(include=[])
    with pytest.raises(IncludeError, match="not the string"):
        include_tasks(pipeline, graph, "Summary")
    assert include_tasks(pipeline, graph, ["Summary", "Positive"]) == ["Summary"]
    assert include_tasks(pipeline, graph, ["Daily"]) == ["LoadOrders", "Stores", "Summary", "Export"]
