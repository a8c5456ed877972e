"""loom.etl: the example pipeline (pipelines/loom_orders) on 1M+ orders, loom's own runner vs trakt-dagster.

The data is generated here (not committed): orders over two days (1,000,000 and 5,000,000 by default) and
50 stores, as CSV files the example's `storage.files` aliases point to. The pipeline is the bundled example
module, unchanged: CSV → Delta tables (two loads in parallel) → a parallel group of two transforms, one
through a RUN temp → a summary table → a CSV report named after the run date.

(a) loom natively: `ETLRunner.from_yaml(<config>)` then `runner.run(OrdersNightly, OrdersParams(...))`,
    with a local `CheckpointStore` passed to loom's constructor (loom's config takes only cloud temp
    roots), in this process.
(b) trakt-dagster: the pipeline's Dagster job (`execute_in_process` for the partition, ephemeral
    instance) in the same process: definitions built once, then per run the runner built the same way,
    the observer, one asset materialization per table/file, manifest, run folder.
(e) the floor: a bare multi-asset making the same loom call and reporting the same five assets.
Each starts from an empty lake (deleted between runs, outside the timing); best of N, interleaved.
Also (c) loom natively in a new Python process and (d) `trakt-dagster loom run` in a new process
(imports, code loading, instance and definitions included).

Usage: python bench/bench_loom.py [--rows 1000000,5000000] [--repeat 5] [--process-repeat 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _results import write_section  # noqa: E402

RUN_DATE = "2026-03-30"
CONFIG = """
storage:
  missing_table_policy: create
  defaults:
    table_path: {{uri: lake}}
  files:
    orders_csv: {{path: {{uri: {orders}}}}}
    stores_csv: {{path: {{uri: {stores}}}}}
    daily_sales_report: {{path: {{uri: "exports/daily_sales_{{run_date}}.csv"}}}}
observability:
  log: {{enabled: false}}
dagster:
  partitions: {{field: run_date, start: "2026-03-28"}}
  retries: 1
  temp_root: temps
"""

NATIVE = """
import sys
from datetime import date
from pathlib import Path
folder = Path(sys.argv[1])
sys.path.insert(0, str(folder))
from loom.etl import CheckpointStore, ETLRunner
import orders_nightly as m


class Runner(ETLRunner):
    def __init__(self, reader, writer, observability=None, dispatcher=None, checkpoint_store=None, *a, **k):
        store = checkpoint_store or CheckpointStore(root=str(folder / "temps"))
        super().__init__(reader, writer, observability, dispatcher, store, *a, **k)


import os
os.chdir(folder)
Runner.from_yaml("loom.yaml").run(m.OrdersNightly, m.OrdersParams(run_date=date.fromisoformat(sys.argv[2])))
"""


def generate(work: Path, rows: int) -> tuple[Path, Path]:
    """orders.csv (`rows` orders over two days) and stores.csv (50 stores), written with Polars."""
    import numpy as np
    import polars as pl

    data = work / "data"
    orders, stores = data / f"orders_{rows}.csv", data / "stores.csv"
    if orders.exists() and stores.exists():
        return orders, stores
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(13)
    store_ids = [f"S{i:02d}" for i in range(50)]
    pl.DataFrame(
        {
            "store_id": store_ids,
            "store_name": [f"Store {i}" for i in range(50)],
            "region": [("north", "south", "east", "west", "alps")[i % 5] for i in range(50)],
            "country": [("DE", "AT", "CH")[i % 3] for i in range(50)],
        }
    ).write_csv(stores)
    pl.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "order_date": np.where(rng.random(rows) < 0.5, "2026-03-29", RUN_DATE),
            "store_id": np.array(store_ids)[rng.integers(0, 50, rows)],
            "customer_id": np.char.add("C", rng.integers(0, 100_000, rows).astype(str)),
            "amount": np.round(rng.uniform(1, 500, rows), 2),
            "status": np.array(["paid", "paid", "paid", "refunded", "cancelled"])[rng.integers(0, 5, rows)],
        }
    ).write_csv(orders)
    return orders, stores


def make_root(work: Path, orders: Path, stores: Path) -> Path:
    """A code-location root holding the example module unchanged and a config for the generated data."""
    root = work / "root"
    folder = root / "pipelines" / "loom_orders"
    if root.exists():
        shutil.rmtree(root)
    folder.mkdir(parents=True)
    shutil.copy(REPO / "pipelines" / "loom_orders" / "orders_nightly.py", folder / "orders_nightly.py")
    (folder / "loom.yaml").write_text(CONFIG.format(orders=orders, stores=stores))
    for name in ("lake", "exports", "temps"):
        (folder / name).mkdir()
    return root


def reset(folder: Path) -> None:
    for name in ("lake", "exports", "temps"):
        shutil.rmtree(folder / name, ignore_errors=True)
        (folder / name).mkdir()


HEADER_ROW = (
    "| orders | (a) loom | (b) trakt-dagster | (b)/(a), same process (target ≤ 1.10) | CPU time (b)/(a) "
    "| (e) bare multi-asset | (e)/(a) | (c) loom, new process | (d) trakt-dagster, new process | (d)/(c) "
    "| reports identical | load average |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def bare_multi_asset_job(run_loom: object):  # noqa: ANN201 - a Dagster job
    """The floor of any Dagster mapping: a bare subsettable multi-asset that makes the same loom call and
    reports the same five assets (no run folder, manifest, observer or per-step reporting)."""
    import dagster as dg

    keys = (["raw", "orders"], ["raw", "stores"], ["staging", "store_regions"], ["mart", "daily_sales"])
    specs = [dg.AssetSpec(["floor", *k], skippable=True) for k in (*keys, ["files", "daily_sales_report"])]

    @dg.multi_asset(specs=specs, can_subset=True, name="floor_pipeline")
    def floor(context):  # noqa: ANN001, ANN202
        run_loom()
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key)

    return dg.Definitions(assets=[floor], jobs=[dg.define_asset_job("floor")]).resolve_job_def("floor")


def measure(rows: int, repeat: int, process_repeat: int) -> dict[str, object]:
    """(a)-(d) for one data size; returns the best times, CPU times and whether the reports agree."""
    import dagster as dg
    import polars as pl

    work = HERE / ".work" / "loom"
    orders, stores = generate(work, rows)
    root = make_root(work, orders, stores)
    folder = root / "pipelines" / "loom_orders"
    os.environ["TRAKT_DAGSTER_RUNS_DIR"] = str(work / "runs")

    from datetime import date

    from trakt_dagster import build_definitions
    from trakt_dagster.core.pymodules import import_pipeline_module
    from trakt_dagster.loom.resource import local_checkpoints

    module = import_pipeline_module(folder / "orders_nightly.py").module
    params = module.OrdersParams(run_date=date.fromisoformat(RUN_DATE))
    config_path = str(folder / "loom.yaml")
    timings: dict[str, list[float]] = {"native": [], "dagster": []}
    cpu: dict[str, list[float]] = {"native": [], "dagster": []}

    def run_loom() -> None:
        """The native call: loom's runner from the YAML config, one `run` (no timing, no reset)."""
        cwd = os.getcwd()
        os.chdir(folder)  # loom resolves the config's relative paths against the working directory
        try:
            local_checkpoints(folder / "temps").from_yaml(config_path).run(module.OrdersNightly, params)
        finally:
            os.chdir(cwd)

    def native() -> None:
        reset(folder)
        t0, c0 = time.perf_counter(), time.process_time()
        run_loom()
        timings["native"].append(time.perf_counter() - t0)
        cpu["native"].append(time.process_time() - c0)

    defs = build_definitions(root, runs_dir=str(work / "runs"))
    job = defs.resolve_job_def("OrdersNightly")
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    instance = dg.DagsterInstance.ephemeral()

    def dagster_run() -> None:
        reset(folder)
        t0, c0 = time.perf_counter(), time.process_time()
        result = job.execute_in_process(instance=instance, run_config=run_config, partition_key=RUN_DATE)
        timings["dagster"].append(time.perf_counter() - t0)
        cpu["dagster"].append(time.process_time() - c0)
        assert result.success

    floor_job = bare_multi_asset_job(run_loom)
    floor: list[float] = []

    def floor_run() -> None:
        reset(folder)
        t0 = time.perf_counter()
        assert floor_job.execute_in_process(instance=instance, run_config=run_config).success
        floor.append(time.perf_counter() - t0)

    native()  # warm-up of all three (imports, Polars thread pool, first Delta writes)
    dagster_run()
    floor_run()
    native_report = (folder / "exports" / f"daily_sales_{RUN_DATE}.csv").read_text()
    for values in (*timings.values(), *cpu.values(), floor):
        values.clear()
    for _ in range(repeat):  # alternate, so machine load hits all alike
        native()
        dagster_run()
        floor_run()
    load = os.getloadavg()[0]
    dagster_report = (folder / "exports" / f"daily_sales_{RUN_DATE}.csv").read_text()
    assert pl.read_delta(str(folder / "lake" / "raw" / "orders")).height == rows
    bin_dir = Path(sys.executable).parent
    env = {**os.environ}
    env.pop("DAGSTER_HOME", None)
    proc_native, proc_dagster = [], []
    for _ in range(process_repeat):
        reset(folder)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", NATIVE, str(folder), RUN_DATE], check=True, capture_output=True)
        proc_native.append(time.perf_counter() - t0)
        reset(folder)
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(bin_dir / "trakt-dagster"), "loom", "run", "OrdersNightly", "--root", str(root)]
            + ["--param", f"run_date={RUN_DATE}", "-q"],
            capture_output=True,
            text=True,
            env=env,
        )
        proc_dagster.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
    cli_report = (folder / "exports" / f"daily_sales_{RUN_DATE}.csv").read_text()
    return {
        "rows": rows,
        "a": min(timings["native"]),
        "b": min(timings["dagster"]),
        "cpu_a": min(cpu["native"]),
        "cpu_b": min(cpu["dagster"]),
        "floor": min(floor),
        "c": min(proc_native),
        "d": min(proc_dagster),
        "load": load,
        "same": native_report == dagster_report == cli_report,
    }


def render(results: list[dict[str, object]], repeat: int, process_repeat: int) -> str:
    """The RESULTS.md section for measured `results` (one dict per data size, as `measure` returns)."""
    rows = "\n".join(
        f"| {r['rows']:,} | {r['a']:.2f} s | {r['b']:.2f} s | **{r['b'] / r['a']:.2f}** | "
        f"{r['cpu_b'] / r['cpu_a']:.2f} | {r['floor']:.2f} s | {r['floor'] / r['a']:.2f} | "
        f"{r['c']:.2f} s | {r['d']:.2f} s | {r['d'] / r['c']:.2f} | "
        f"{'yes' if r['same'] else 'NO'} | {r['load']:.1f} |"
        for r in results
    )
    met = [r for r in results if r["b"] / r["a"] <= 1.10]
    missed = [r for r in results if r["b"] / r["a"] > 1.10]
    parts = []
    if met:
        parts.append("**met** at " + ", ".join(f"{r['rows']:,}" for r in met) + " orders")
    if missed:
        listed = ", ".join(f"{r['rows']:,} orders ({r['b'] / r['a']:.2f})" for r in missed)
        parts.append(f"**not met** at {listed}")
    split = "; ".join(
        f"{r['rows']:,}: (b) − (a) = {r['b'] - r['a']:.2f} s, of which Dagster's run alone (e) − (a) = "
        f"{r['floor'] - r['a']:.2f} s and the adapter (b) − (e) = {r['b'] - r['floor']:.2f} s"
        for r in results
    )
    loaded = max(float(r["load"]) for r in results) > 2 * (os.cpu_count() or 1)
    load_note = (
        "The machine was heavily loaded during this measurement (load averages in the table, on "
        f"{os.cpu_count()} cores, from other work running at the same time): the wall times include time spent "
        "waiting for a core, which such load makes long and uneven; CPU time is less affected (its ratio is in "
        "the table)."
        if loaded
        else "The machine is shared: wall times are the best of the runs, and the load average is the one when "
        "the in-process runs of that size ended."
    )
    return f"""
## loom.etl: the example pipeline on {", ".join(f"{r['rows']:,}" for r in results)} orders

The bundled `pipelines/loom_orders` module, unchanged, on generated data (orders over two days, 50 stores):
CSV → Delta tables (two loads in parallel) → a parallel group of two transforms, one through a RUN temp → a
summary table → a CSV report. Every run starts from an empty lake (deleted outside the timed part). (a) loom
natively: `ETLRunner.from_yaml(...).run(...)` (with a local `CheckpointStore`, as loom's YAML takes only cloud
temp roots) in this process; (b) trakt-dagster: the pipeline's Dagster job, `execute_in_process` for the
partition, ephemeral instance, in the same process; (e) a bare multi-asset making the same loom call and
reporting the same five assets (Dagster's own cost, without the adapter); (a), (b) and (e) alternate, best of
{repeat}. (c) loom natively in a new Python process; (d) `trakt-dagster loom run OrdersNightly` in a new
process (imports, code location, instance included; best of {process_repeat}).

{HEADER_ROW}
{rows}

Target (b)/(a) ≤ 1.10: {"; ".join(parts)}.

Where the same-process difference goes — {split}. Dagster's part is the run itself (run and step records,
events, five asset materializations); the adapter's is its observer, the step log lines, the Delta-log reads
for versions and rows, the manifest and the run folder. The new-process difference (d) − (c) adds importing
Dagster and trakt-dagster, loading the code location and creating the instance, which every Dagster run
process pays once whatever the data size.

{load_note}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000000,5000000", help="comma-separated data sizes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--process-repeat", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("loom").setLevel(logging.ERROR)  # loom's own warnings (append targets) in both runs
    results = [measure(int(n), args.repeat, args.process_repeat) for n in args.rows.split(",")]
    (HERE / ".work" / "loom" / "results.json").write_text(json.dumps(results, indent=1))
    body = render(results, args.repeat, args.process_repeat)
    write_section("loom", body)
    print(body)


if __name__ == "__main__":
    main()
