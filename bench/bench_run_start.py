"""Runs launched from the UI under `dagster dev` (webserver + daemon): a trivial pipeline vs Dagster's own job.

One code location holds (n) Dagster's own trivial one-op job (an `@asset` and `define_asset_job`, Dagster's
default executor), a trivial flowrun DAG of one task and a trivial trakt pipeline of one step. Each run is
launched through the webserver's GraphQL API (what the UI's "Materialize" button sends), queued, dequeued by
the daemon and run by a run worker process, on the instance settings `make run` uses (`deploy/dagster.yaml`: the
daemon takes queued runs every second). Measured from the run's creation to its end (the instance's run
record), best and median of N, interleaved; also the trakt-dagster job with `multiprocess` in its run config
(what every pipeline job did before a one-op job ran in process).

Target: trivial pipeline ≤ (n) + 0.5 s.

Usage: python bench/bench_run_start.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _dagster_dev import dagster_dev, free_port, graphql  # noqa: E402
from _results import write_section  # noqa: E402

DEFINITIONS = """
from pathlib import Path

import dagster as dg

from trakt_dagster import build_definitions


@dg.asset
def native_trivial_asset():
    return 1


defs = dg.Definitions.merge(
    build_definitions(Path(__file__).parent, strict_load=True),
    dg.Definitions(assets=[native_trivial_asset], jobs=[dg.define_asset_job("native_trivial", [native_trivial_asset])]),
)
"""
FLOWRUN = """
from flowrun import build_default_engine

engine = build_default_engine(max_parallel=1)
dag = engine.dag("hello_flow")


@dag.task()
def only():
    return 1
"""
TRAKT_YAML = """
name: hello_trakt
inputs: {records: records.csv}
steps:
  - {id: copy, uses: steps.copy, with: {input: records, output: copied}}
outputs: {final: copied}
"""
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on RunConfigValidationInvalid {
    errors { message } } } }"""
LOCATIONS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"


def write_root(root: Path) -> None:
    files = {
        "definitions.py": DEFINITIONS,
        "pipelines/hello_flow/dag.py": FLOWRUN,
        "pipelines/hello_trakt/pipeline.yaml": TRAKT_YAML,
        "pipelines/hello_trakt/steps/__init__.py": "",
        "pipelines/hello_trakt/steps/copy.py": "def run(ctx, input):\n    return {'output': input}\n",
        "pipelines/hello_trakt/records.csv": "id,amount\n1,10\n2,20\n",
        "home/dagster.yaml": (HERE.parent / "deploy" / "dagster.yaml").read_text(),  # the instance `make run` uses
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def wait_ready(port: int, deadline: float) -> tuple[str, str]:
    while time.monotonic() < deadline:
        try:
            nodes = graphql(port, LOCATIONS)["repositoriesOrError"]["nodes"]
            if nodes:
                return nodes[0]["location"]["name"], nodes[0]["name"]
        except (OSError, RuntimeError, KeyError, TypeError):
            pass
        time.sleep(1)
    raise SystemExit("dagster dev did not come up")


def launch_and_wait(port: int, instance, selector: dict, run_config: dict) -> tuple[float, float]:  # noqa: ANN001
    params = {"selector": selector, "runConfigData": run_config}
    launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"launch failed: {launched}")
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        record = instance.get_run_record_by_id(run_id)
        if record is not None and record.end_time is not None:
            if record.dagster_run.status.value != "SUCCESS":
                raise SystemExit(f"run {run_id} of {selector['jobName']}: {record.dagster_run.status}")
            return record.end_time - record.create_timestamp.timestamp(), record.end_time - record.start_time
        time.sleep(0.05)
    raise SystemExit(f"run {run_id} did not finish")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import dagster as dg

    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_root(root)
        port = free_port()
        env = {**os.environ, "DAGSTER_HOME": str(root / "home"), "TRAKT_DAGSTER_RUNS_DIR": str(root / "runs")}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        with dagster_dev(root, env, port):
            location, repository = wait_ready(port, time.monotonic() + 600)
            base = {"repositoryLocationName": location, "repositoryName": repository}
            trakt_config = {
                "ops": {
                    "hello_trakt_pipeline": {
                        "config": {
                            "input_dir": str(root / "pipelines" / "hello_trakt"),
                            "output_dir": str(root / "out"),
                        }
                    }
                }
            }
            multiprocess = {"execution": {"config": {"multiprocess": {}}}}
            jobs = {
                "native": ("native_trivial", {}),
                "flowrun": ("hello_flow", {}),
                "trakt": ("hello_trakt", trakt_config),
                "flowrun_multi": ("hello_flow", multiprocess),
            }
            with dg.DagsterInstance.from_config(str(root / "home")) as instance:
                for job, config in jobs.values():  # warm up: the first run of each pays file caches
                    launch_and_wait(port, instance, {**base, "jobName": job}, config)
                total: dict[str, list[float]] = {key: [] for key in jobs}
                worker: dict[str, list[float]] = {key: [] for key in jobs}
                for _ in range(args.repeat):
                    for key, (job, config) in jobs.items():
                        whole, in_worker = launch_and_wait(port, instance, {**base, "jobName": job}, config)
                        total[key].append(whole)
                        worker[key].append(in_worker)
            load = os.getloadavg()[0]
    best = {key: min(values) for key, values in total.items()}
    median = {key: statistics.median(values) for key, values in total.items()}
    in_worker = {key: statistics.median(values) for key, values in worker.items()}
    target = best["native"] + 0.5
    rows = []
    for key, label in (
        ("native", "(n) Dagster's own trivial one-op job (default executor)"),
        ("flowrun", "trakt-dagster: flowrun DAG of one task"),
        ("trakt", "trakt-dagster: trakt pipeline of one step (2 rows)"),
        ("flowrun_multi", "the flowrun job with `multiprocess` in its run config (the old default)"),
    ):
        verdict = "" if key == "native" else ("met" if best[key] <= target else "**not met**")
        if key == "flowrun_multi":
            verdict = "(for comparison)"
        rows.append(
            f"| {label} | {best[key]:.2f} s | {median[key]:.2f} s | {in_worker[key]:.2f} s | "
            f"{best[key] - best['native']:+.2f} s | {verdict} |"
        )
    body = f"""## Run start: runs launched from the UI under `dagster dev` (webserver + daemon)

Each run is launched through the webserver's GraphQL API (as the UI does), queued, dequeued by the daemon
(every second, as with `make run`'s instance settings) and run in a run worker process; times from the run's
creation to its end (run record), {args.repeat} runs each, interleaved. "In the worker" is the run worker's own
part (from its start to the end: loading the code location
in the worker and running the job).

| job | creation → end, best | median | in the worker (median) | − (n), best | target ≤ (n) + 0.5 s |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

A job whose plan is a single op (every pipeline-granularity job) runs that op in the run worker itself; Dagster's
own one-op job starts a second process for its op (the default multiprocess executor), which the last row pays
too. Load average at the end: {load:.1f}.
"""
    write_section("run_start", body)
    print(body)


if __name__ == "__main__":
    main()
