"""Pipeline vs step granularity on the bundled examples of every tool: what one op per task costs.

For each example: (a) pipeline granularity in process (one op), (b) step granularity in process (one op per
task, values through the run folder), (c) step granularity with Dagster's multiprocess executor (one
process per op, as a distributed executor would run them). Runs on a copy of the examples, an ephemeral
instance for (a)/(b) and a SQLite instance folder for (c).

Usage: python bench/bench_granularity.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _results import best, write_section  # noqa: E402

EXAMPLES = [  # (tool, folder under the repository, job, partition)
    ("trakt", "pipelines/sales_multi_file", "sales_multi_file", None),
    ("flowrun", "pipelines/api_ingest", "api_ingest", None),
    ("pit", "projects/sqlite_reports", "sqlite_reports", None),
    ("loom", "pipelines/loom_orders", "OrdersNightly", "latest"),
]
DEFINITIONS = (
    "import os\nfrom trakt_dagster import build_definitions\n\n"
    "defs = build_definitions(os.environ['BENCH_ROOT'], granularity=os.environ.get('BENCH_GRANULARITY'))\n"
)


def copy_example(folder: str, target: Path) -> Path:
    """A root holding only this example (each op process of (c) loads just it)."""
    shutil.copytree(REPO / folder, target / folder, ignore=shutil.ignore_patterns("runs", "outputs", "__pycache__"))
    for name in ("pit_config.toml", "projects/demo-secrets.toml"):
        if (REPO / name).exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, target / name)
    return target


def in_process(root: Path, job_name: str, partition: str | None, granularity: str) -> tuple[float, int]:
    import dagster as dg

    from trakt_dagster import build_definitions

    defs = build_definitions(root, runs_dir=str(root / "runs"), granularity=granularity)
    job = defs.resolve_job_def(job_name)
    instance = dg.DagsterInstance.ephemeral()
    key = None
    if partition is not None:
        key = job.partitions_def.get_partition_keys()[-1] if job.partitions_def else None

    def once() -> None:
        result = job.execute_in_process(instance=instance, raise_on_error=False, partition_key=key)
        assert result.success, f"{job_name} ({granularity}) failed"

    once()  # warm: imports, first kernel/process start
    return best(once, REPEAT), len(job.graph.nodes)


def multiprocess(root: Path, job_name: str, partition: str | None) -> float:
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableJob

    home = root / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    (root / "bench_definitions.py").write_text(DEFINITIONS + f"job = defs.resolve_job_def({job_name!r})\n")
    os.environ.update(BENCH_ROOT=str(root), BENCH_GRANULARITY="step")
    job = ReconstructableJob.for_file(str(root / "bench_definitions.py"), "job")
    tags = {}
    if partition is not None:
        from trakt_dagster import build_definitions

        partitions = build_definitions(root, granularity="step").resolve_job_def(job_name).partitions_def
        tags = {"dagster/partition": partitions.get_partition_keys()[-1]}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        t0 = time.perf_counter()
        with dg.execute_job(job, instance=instance, tags=tags) as result:
            assert result.success, f"{job_name} (multiprocess) failed"
        return time.perf_counter() - t0


def main() -> None:
    global REPEAT
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    REPEAT = parser.parse_args().repeat
    rows = []
    load_before = os.getloadavg()[0]
    for tool, folder, job_name, partition in EXAMPLES:
        with tempfile.TemporaryDirectory() as tmp:
            root = copy_example(folder, Path(tmp))
            os.environ["TRAKT_DAGSTER_RUNS_DIR"] = str(root / "runs")
            pipe, _ = in_process(root, job_name, partition, "pipeline")
            step, ops = in_process(root, job_name, partition, "step")
            multi = multiprocess(root, job_name, partition)
            rows.append((tool, job_name, ops, pipe, step, multi))
            print(
                f"{tool} {job_name}: pipeline {pipe:.2f} s, step {step:.2f} s, multiprocess {multi:.2f} s", flush=True
            )
    lines = [
        "## Granularity: one op per pipeline vs one op per task (bundled examples)",
        "",
        "| tool / job | ops (step) | (a) pipeline, in process | (b) step, in process | (b)/(a) "
        "| (c) step, multiprocess | (c)/(a) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tool, job_name, ops, pipe, step, multi in rows:
        lines.append(
            f"| {tool} `{job_name}` | {ops} | {pipe:.2f} s | {step:.2f} s | {step / pipe:.2f} | {multi:.2f} s "
            f"| {multi / pipe:.2f} |"
        )
    lines += [
        "",
        f"(a) and (b): best of {REPEAT} warm runs in one process (ephemeral instance); (c): one run through "
        "`execute_job` with Dagster's multiprocess executor and a SQLite instance (every op starts a Python "
        "process that imports Dagster and loads the code location). Step granularity pays per task: an op's "
        "Dagster events, storing the task's value in the run folder and reading it back downstream, and the "
        "tool's per-run set-up again in every op (pit's SDK server, loom's `ETLRunner.run` call, flowrun's "
        "context); with the multiprocess executor also a process start per op. In return each task is its own "
        "bar in the Gantt chart, retries and re-executes alone, and can run on another machine.",
        "",
        f"Load average while measuring: {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        f"({os.cpu_count()} cores); under contention the multiprocess figures are mostly process start-up.",
    ]
    write_section("granularity", "\n".join(lines))


REPEAT = 3

if __name__ == "__main__":
    main()
