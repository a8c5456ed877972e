"""Jobs of one op run in the run worker (no process start per run); jobs of several ops keep a parallel executor."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob

from tests.conftest import write_files
from tests.trakt.steps_fixtures import STEP_FILES
from trakt_dagster import build_definitions
from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.executors import single_op_executor
from trakt_dagster.core.graph import Granularity, Task, TaskGraph, TaskResult
from trakt_dagster.core.resources import RunStorage

FLOWRUN = """
    from flowrun import build_default_engine

    engine = build_default_engine(max_parallel=2)
    dag = engine.dag("tiny_flow")


    @dag.task()
    def first():
        return 1


    @dag.task(deps=["first"])
    def second(first):
        return first + 1
"""


def pipeline(name: str, steps: int, granularity: str) -> dict[str, str]:
    lines = [f"name: {name}", "inputs: {records: records.csv}", "steps:"]
    previous = "records"
    for i in range(steps):
        lines.append(f"  - {{id: s{i}, uses: steps.double, with: {{input: {previous}, output: v{i}}}}}")
        previous = f"v{i}"
    lines += [f"outputs: {{final: {previous}}}", f"dagster: {{granularity: {granularity}}}"]
    files = {f"pipelines/{name}/{k}": v for k, v in STEP_FILES.items()}
    files[f"pipelines/{name}/pipeline.yaml"] = "\n".join(lines) + "\n"
    files[f"pipelines/{name}/records.csv"] = "id,amount\n1,10\n"
    return files


def test_single_op_jobs_run_in_process_and_multi_op_jobs_in_parallel(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **pipeline("whole", 3, "pipeline"),
            **pipeline("one_step", 1, "step"),
            **pipeline("three_steps", 3, "step"),
            "pipelines/tiny_flow/dag.py": FLOWRUN,
        },
    )
    defs = build_definitions(tmp_path, strict_load=True)
    executors = {name: defs.resolve_job_def(name).executor_def.name for name in ("whole", "tiny_flow")}
    assert executors == dict.fromkeys(("whole", "tiny_flow"), single_op_executor.name)
    for name, ops in (("one_step", 2), ("three_steps", 4)):  # each step and the output are ops
        multi = defs.resolve_job_def(name)
        assert len(multi.graph.nodes) == ops
        assert multi.executor_def.name == "multi_or_in_process_executor"
        assert multi.executor_def.get_requirements({"multiprocess": {}})  # the default mode starts processes


def test_a_step_granularity_job_of_one_op_runs_in_process(tmp_path: Path) -> None:
    one = TaskGraph("solo", "test", tmp_path / "solo.py", tasks=(Task("only", run=lambda ctx, up: TaskResult(1)),))
    defs = build_graph_definitions(one, run_storage=RunStorage(runs_dir=str(tmp_path)), granularity=Granularity.STEP)
    job = defs.resolve_job_def("solo")
    assert [node.name for node in job.graph.nodes] == ["solo__only"]
    assert job.executor_def.name == single_op_executor.name


def test_single_op_executor_keeps_both_run_configs(tmp_path: Path) -> None:
    """A launched run (non-ephemeral instance, reconstructable job) executes its op in this very process by
    default; `multiprocess` in the run config still gives the op a process of its own."""
    write_files(
        tmp_path,
        {
            **pipeline("whole", 2, "pipeline"),
            "definitions.py": "from pathlib import Path\nfrom trakt_dagster import build_definitions\n\n"
            "defs = build_definitions(Path(__file__).parent, strict_load=True)\njob = defs.resolve_job_def('whole')\n",
        },
    )
    job = ReconstructableJob.for_file(str(tmp_path / "definitions.py"), "job")
    op_config = {"output_dir": str(tmp_path / "out"), "input_dir": str(tmp_path / "pipelines" / "whole")}
    ops = {"ops": {"whole_pipeline": {"config": op_config}}}
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        with dg.execute_job(job, instance=instance, run_config=ops) as result:
            assert result.success
            engine = [e.message for e in result.all_events if e.event_type_value == "ENGINE_EVENT"]
            assert any(f"Executing steps in process (pid: {os.getpid()})" in m for m in engine), engine
            assert not any(e.event_type_value == "STEP_WORKER_STARTED" for e in result.all_events)
        multi = {**ops, "execution": {"config": {"multiprocess": {"max_concurrent": 1}}}}
        with dg.execute_job(job, instance=instance, run_config=multi) as result:
            assert result.success
            assert any(e.event_type_value == "STEP_WORKER_STARTED" for e in result.all_events)
    assert (tmp_path / "out" / "final.csv").read_text() == "id,amount\n1,40\n"
