"""trakt per task: a pipeline of 200 trivial steps, trakt-dagster against Dagster alone, same process.

(a) native: the 200 step functions called one after another on the same 2-row frame (what the steps cost).
(b) trakt-dagster: the pipeline's job in pipeline granularity (`execute_in_process`, ephemeral instance): one
    op, one asset materialization per step, the manifest, the run folder.
(d) Dagster alone: a bare subsettable multi-asset with the same asset graph yielding one `MaterializeResult`
    per asset (the floor any one-asset-per-step mapping pays).
The project's own share per task: ((b) − (d) − (a)) / 200; target ≤ 1 ms.

Usage: python bench/bench_trakt_tasks.py [--steps 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import write_section  # noqa: E402

STEP = "def run(ctx, input):\n    return {'output': input}\n"


def write_root(root: Path, steps: int) -> Path:
    folder = root / "pipelines" / "many_steps"
    (folder / "steps").mkdir(parents=True)
    (folder / "steps" / "__init__.py").write_text("")
    (folder / "steps" / "same.py").write_text(STEP)
    (folder / "records.csv").write_text("id,amount\n1,10\n2,20\n")
    lines = ["name: many_steps", "inputs: {records: records.csv}", "steps:"]
    previous = "records"
    for i in range(steps):
        lines.append(f"  - {{id: s{i:03d}, uses: steps.same, with: {{input: {previous}, output: v{i:03d}}}}}")
        previous = f"v{i:03d}"
    lines.append(f"outputs: {{final: {previous}}}")
    (folder / "pipeline.yaml").write_text("\n".join(lines) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import dagster as dg
    import pandas as pd

    from trakt_dagster import build_definitions

    logging.getLogger("trakt_dagster").setLevel(logging.WARNING)
    n = args.steps
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = write_root(root, n)
        defs = build_definitions(root, runs_dir=str(root / "runs"), strict_load=True)
        job = defs.resolve_job_def("many_steps")
        specs = [dg.AssetSpec(dg.AssetKey(["floor", "s000"]), skippable=True)]
        for i in range(1, n):
            specs.append(dg.AssetSpec(dg.AssetKey(["floor", f"s{i:03d}"]), deps=[specs[-1].key], skippable=True))

        @dg.multi_asset(specs=specs, can_subset=True, name="floor_pipeline")
        def floor(context):  # noqa: ANN001, ANN202
            for spec in specs:
                yield dg.MaterializeResult(asset_key=spec.key)

        floor_job = dg.Definitions(assets=[floor], jobs=[dg.define_asset_job("floor")]).resolve_job_def("floor")
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        config = {
            **quiet,
            "ops": {"many_steps_pipeline": {"config": {"input_dir": str(folder), "output_dir": str(root / "out")}}},
        }
        frame = pd.read_csv(folder / "records.csv")
        namespace = {}
        exec(STEP, namespace)  # noqa: S102 - the step module's own code, natively
        step = namespace["run"]

        def native() -> None:
            value = frame
            for _ in range(n):
                value = step(None, value)["output"]

        with dg.DagsterInstance.ephemeral() as instance:
            runners = {
                "a": native,
                "b": lambda: job.execute_in_process(instance=instance, run_config=config),
                "d": lambda: floor_job.execute_in_process(instance=instance, run_config=quiet),
            }
            for run in runners.values():
                run()
            times: dict[str, list[float]] = {key: [] for key in runners}
            for _ in range(args.repeat):
                for key, run in runners.items():
                    t0 = time.perf_counter()
                    run()
                    times[key].append(time.perf_counter() - t0)
    a, b, d = (min(times[k]) for k in ("a", "b", "d"))
    share = (b - d - a) / n
    verdict = "met" if share <= 0.001 else "**not met**"
    body = f"""## trakt per task: a pipeline of {n} trivial steps, same process

| run (best of {args.repeat}, interleaved) | wall time |
| --- | --- |
| (a) the {n} step functions called natively | {a * 1000:.1f} ms |
| (b) trakt-dagster, pipeline granularity (`execute_in_process`) | {b * 1000:.0f} ms |
| (d) Dagster alone: bare multi-asset, {n} `MaterializeResult`s | {d * 1000:.0f} ms |

| figure | value | target |
| --- | --- | --- |
| Dagster's own cost per materialized asset, (d)/{n} | {d / n * 1000:.2f} ms | |
| **trakt-dagster's own share per task, ((b)−(d)−(a))/{n}** | **{share * 1000:.2f} ms** | ≤ 1 ms: {verdict} |

(b) runs every step through the core runner and the trakt adapter (bindings, artifacts, the manifest rewritten
as tasks start and finish, the run folder) and reports one asset per step plus the output; (d) is what Dagster
itself costs for the same number of materializations.
"""
    write_section("trakt_tasks", body)
    print(body)


if __name__ == "__main__":
    main()
