"""run_many as a Dagster sensor (row 27) and Dagster run termination (N5, row 21 on Dagster)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO, write_files
from tests.flowrun.conftest import run_dag
from trakt_dagster import build_definitions
from trakt_dagster.flowrun.batches import batch_run_key

BATCHES = """
    from flowrun import RunContext, build_default_engine

    engine = build_default_engine(max_parallel=2)
    sync_dag = engine.dag("{sync}")


    def flowrun_context(metadata):
        return RunContext({{"factor": 10}}, metadata)


    def flowrun_batches():
        # run_many's contexts: a RunContext, a bare metadata mapping, and one more RunContext
        return [RunContext(None, {{"n": 2}}), {{"n": 3}}, RunContext(None, {{"n": 5}})]


    @sync_dag.task()
    def src(context: RunContext[dict]):
        return int(context.metadata["n"])


    @sync_dag.task()
    def scaled(src, context: RunContext[dict]):
        if src == 3:
            raise RuntimeError("batch 3 is broken")
        return src * context.deps["factor"]
"""

ASYNC_BATCHES = """
    from trakt_dagster.flowrun import Pipeline, RunContext

    pipeline = Pipeline("agen")


    async def flowrun_batches():
        for n in (4, 6):
            yield RunContext(None, {"n": n})


    @pipeline.task()
    def src(context: RunContext[dict]):
        return int(context.metadata["n"])
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_files(
        tmp_path_factory.mktemp("batches"),
        {"pipelines/mb/dag.py": BATCHES.format(sync="mb"), "pipelines/agen/dag.py": ASYNC_BATCHES},
    )


def _requests(root: Path, instance: dg.DagsterInstance, sensor_name: str) -> list[dg.RunRequest]:
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    sensor = defs.resolve_sensor_def(sensor_name)
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    return list(result.run_requests or [])


def test_run_many_batches_become_one_run_each_row_27(root: Path, instance: dg.DagsterInstance) -> None:
    requests = _requests(root, instance, "mb_batches")
    # one run request per batch, in the source's order, each tagged with its own metadata
    assert [json.loads(r.tags["trakt/metadata"]) for r in requests] == [{"n": 2}, {"n": 3}, {"n": 5}]
    assert [r.tags["trakt/n"] for r in requests] == ["2", "3", "5"]
    assert [r.run_key for r in requests] == [batch_run_key("mb", {"n": n}) for n in (2, 3, 5)]
    assert len({r.run_key for r in requests}) == 3
    # the next tick asks for the same keys: Dagster's run-key dedupe never launches a batch twice
    assert [r.run_key for r in _requests(root, instance, "mb_batches")] == [r.run_key for r in requests]

    runs = [run_dag(root, "mb", instance, tags=r.tags) for r in requests]
    assert [run.success for run in runs] == [True, False, True]  # the broken batch does not stop the others
    assert [run.report["metadata"] for run in runs] == [{"n": 2}, {"n": 3}, {"n": 5}]
    assert runs[0].task("scaled")["result"] == 20 and runs[2].task("scaled")["result"] == 50
    assert runs[1].task("scaled")["status"] == "FAILED" and "batch 3 is broken" in runs[1].task("scaled")["error"]
    for run, n in zip(runs, ("2", "3", "5")):
        assert instance.get_run_by_id(run.run_id).tags["trakt/n"] == n


def test_async_generator_batch_source_row_27(root: Path, instance: dg.DagsterInstance) -> None:
    requests = _requests(root, instance, "agen_batches")
    assert [json.loads(r.tags["trakt/metadata"]) for r in requests] == [{"n": 4}, {"n": 6}]
    run = run_dag(root, "agen", instance, tags=requests[1].tags)
    assert run.success and run.task("src")["result"] == 6


TERMINATE = """
    import time
    from pathlib import Path

    from trakt_dagster.flowrun import Pipeline, RunContext

    HERE = Path(__file__).parent
    pipeline = Pipeline("term", max_parallel=1)


    def flowrun_context(metadata):
        return RunContext({}, metadata)


    @pipeline.task()
    def slow(context: RunContext[dict]):
        (HERE / "started").write_text("1")
        for _ in range(600):
            if context.cancelled():
                (HERE / "saw_cancel").write_text("1")
                context.raise_if_cancelled()
            time.sleep(0.01)
        return 1


    @pipeline.task()
    def after(slow):
        return slow + 1


    @pipeline.task()
    def later():
        (HERE / "later_ran").write_text("1")
        return 2
"""

RUN_SCRIPT = """
import dagster as dg
from trakt_dagster import build_definitions

defs = build_definitions(".", runs_dir="runs")
with dg.DagsterInstance.ephemeral() as instance:
    result = defs.resolve_job_def("term").execute_in_process(instance=instance, raise_on_error=False)
    print("success:", result.success)
"""


def test_dagster_termination_starts_no_new_task_n5(tmp_path: Path) -> None:
    root = write_files(tmp_path, {"pipelines/term/dag.py": TERMINATE, "run.py": RUN_SCRIPT})
    folder = root / "pipelines" / "term"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.Popen(
        [sys.executable, "run.py"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (folder / "started").exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # what Dagster's run launcher sends to terminate a run
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "success: False" in output
    assert not (folder / "later_ran").exists()  # N5: nothing starts after the termination
    manifest = json.loads(next((root / "runs" / "term").glob("*/manifest.json")).read_text())
    assert manifest["status"] == "failed"
    tasks = manifest["tasks"]
    assert tasks["slow"]["status"] == "failed" and tasks["slow"]["error"]["type"] == "RunInterrupted"
    assert tasks["after"]["status"] == "skipped" and tasks["later"]["status"] == "skipped"
    assert tasks["later"]["reason"].startswith("not started:")
    report = manifest["flowrun_report"]
    assert report["status"] == "FAILED"
    assert report["tasks"]["slow"]["status"] == "FAILED"
    assert [report["tasks"][t]["attempt"] for t in ("after", "later")] == [0, 0]
