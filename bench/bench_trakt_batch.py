"""trakt batch: a 4-step pandas pipeline over a 1,000,000-row CSV.

(a) native: the same step functions called directly, with pandas read_csv / to_csv (what trakt does).
(b) trakt-dagster: `trakt-dagster run bench_orders` (a new process: imports Dagster, loads the pipeline,
    runs it through Dagster with an ephemeral instance, writes the manifest and run folder).
(c) in-process: the pipeline's Dagster job executed in an already started process (what a run costs once
    the code is loaded), against the same native steps in the same process.
Both (a) and (b) are timed as separate processes, best of N.

Usage: python bench/bench_trakt_batch.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE / "trakt_batch"
PIPELINE = ROOT / "pipelines" / "bench_orders"
sys.path.insert(0, str(HERE))
from _results import write_section  # noqa: E402

NATIVE = """
import sys, time, types, importlib
import pandas as pd
t0 = time.perf_counter()
sys.path.insert(0, {pipeline!r})
# The step modules import `trakt`; natively that is trakt itself (pandas + PyYAML): a stub costs nothing.
sys.modules.setdefault("trakt", types.SimpleNamespace(step_contract=lambda **kw: (lambda f: f)))
steps = [importlib.import_module(f"steps.{{n}}") for n in ("clean", "convert", "flag_large", "daily_totals")]
orders = pd.read_csv({data!r})
clean = steps[0].run(None, input=orders)["output"]
eur = steps[1].run(None, input=clean, rates={{"EUR": 1.0, "USD": 0.92, "GBP": 1.17}})["output"]
flagged = steps[2].run(None, input=eur, threshold=250.0)["output"]
totals = steps[3].run(None, input=flagged)["output"]
flagged.to_csv({out!r} + "/orders_flagged.csv", index=False)
totals.to_csv({out!r} + "/daily_totals.csv", index=False)
"""


def generate(path: Path, rows: int) -> None:
    if path.exists() and path.stat().st_size > rows * 20:
        return
    rng = np.random.default_rng(7)
    start = np.datetime64("2026-01-01T00:00:00")
    frame = pd.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "customer_id": rng.integers(1, 50_000, rows),
            "amount": np.where(rng.random(rows) < 0.01, np.nan, rng.gamma(2.0, 60.0, rows).round(2)),
            "currency": rng.choice(["eur", "usd", "gbp", "EUR"], rows),
            "ordered_at": (start + rng.integers(0, 86400 * 90, rows).astype("timedelta64[s]")).astype(str),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return elapsed


def step_granularity(data_dir: Path, out_dir: Path, repeat: int) -> float:
    """The same job in step granularity (one op per step, values as Parquet in the run folder)."""
    import dagster as dg

    from trakt_dagster import build_definitions

    defs = build_definitions(ROOT, runs_dir=str(out_dir / "runs_step"), granularity="step")
    job = defs.resolve_job_def("bench_orders")
    op = {"input_dir": str(data_dir), "output_dir": str(out_dir / "s")}
    ops = {node.name: {"config": op} for node in job.graph.nodes}
    config = {"ops": ops, "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    times = []
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(repeat):
            t0 = time.perf_counter()
            assert job.execute_in_process(run_config=config, instance=instance).success
            times.append(time.perf_counter() - t0)
    return min(times)


def in_process(data_dir: Path, out_dir: Path, repeat: int) -> tuple[float, float]:
    import logging

    import dagster as dg

    from trakt_dagster import build_definitions
    from trakt_dagster.trakt import compat_import

    compat_import.install()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    defs = build_definitions(ROOT, runs_dir=str(out_dir / "runs"))
    job = defs.resolve_job_def("bench_orders")
    op = {"input_dir": str(data_dir), "output_dir": str(out_dir / "d")}
    config = {
        "ops": {"bench_orders_pipeline": {"config": op}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    dagster_times, native_times = [], []
    code = compile(
        NATIVE.format(pipeline=str(PIPELINE), data=str(data_dir / "orders.csv"), out=str(out_dir)), "n", "exec"
    )
    with dg.DagsterInstance.ephemeral() as instance:
        for i in range(repeat):
            for which in ("dagster", "native") if i % 2 == 0 else ("native", "dagster"):
                t0 = time.perf_counter()
                if which == "dagster":
                    assert job.execute_in_process(run_config=config, instance=instance).success
                    dagster_times.append(time.perf_counter() - t0)
                else:
                    exec(code, {"__name__": "native"})
                    native_times.append(time.perf_counter() - t0)
    return min(native_times), min(dagster_times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data_dir = HERE / "data" / "trakt_batch"
    generate(data_dir / "orders.csv", args.rows)
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        script = out / "native.py"
        script.write_text(NATIVE.format(pipeline=str(PIPELINE), data=str(data_dir / "orders.csv"), out=str(out)))
        config = out / "run.yaml"
        op = {"input_dir": str(data_dir), "output_dir": str(out / "td")}
        config.write_text(json.dumps({"ops": {"bench_orders_pipeline": {"config": op}}}))
        native, dagster = [], []
        for _ in range(args.repeat):
            native.append(timed([sys.executable, str(script)]))
            dagster.append(
                timed(
                    [
                        str(bin_dir / "trakt-dagster"),
                        "run",
                        "bench_orders",
                        "--root",
                        str(ROOT),
                        "--config",
                        str(config),
                        "-q",
                    ],
                    env={"TRAKT_DAGSTER_RUNS_DIR": str(out / "runs")},
                )
            )
        same = (out / "orders_flagged.csv").read_bytes() == (out / "td" / "orders_flagged.csv").read_bytes()
        ip_native, ip_dagster = in_process(data_dir, out, args.repeat)
        ip_step = step_granularity(data_dir, out, args.repeat)
        same_step = (out / "s" / "orders_flagged.csv").read_bytes() == (out / "d" / "orders_flagged.csv").read_bytes()
    a, b = min(native), min(dagster)
    body = f"""## trakt batch: 4 pandas steps over {args.rows:,} rows

| run | wall time (best of {args.repeat}) |
| --- | --- |
| (a) native: step functions + pandas read/write, new process | {a:.2f} s |
| (b) `trakt-dagster run bench_orders`, new process | {b:.2f} s |
| ratio (b)/(a), new processes | {b / a:.2f} |
| (c) in one process: native steps | {ip_native:.2f} s |
| (d) in one process: the pipeline's Dagster job (`execute_in_process`) | {ip_dagster:.2f} s |
| **ratio (d)/(c), same process** (target ≤ 1.10) | **{ip_dagster / ip_native:.2f}** |
| (e) in one process: the job in step granularity (in-process executor) | {ip_step:.2f} s |
| **ratio (e)/(d), step vs pipeline granularity** | **{ip_step / ip_dagster:.2f}** |

Output files identical between (a) and (b): {"yes" if same else "NO"}; between (d) and (e):
{"yes" if same_step else "NO"}. Step granularity writes every step's frames as Parquet to the run
folder and reads them back in the next op; with the multiprocess executor each op also pays a process
start (about 2 s on this machine: a new Python process importing Dagster and loading the code location).

The same-process ratio is the cost of running the pipeline through Dagster (run records, events,
manifest, run folder, in-memory artifacts). The new-process figure adds a fixed start-up of about
{b - a:.1f} s per run process (importing Dagster ≈ 0.7 s, creating the instance ≈ 0.5 s, building
the job and its execution plan), which every Dagster run pays once whatever its size; at 1M rows it is
larger than the 10 % target, so the new-process target is **not met**; it shrinks with larger inputs.
"""
    write_section("trakt_batch", body)
    print(body)


if __name__ == "__main__":
    main()
