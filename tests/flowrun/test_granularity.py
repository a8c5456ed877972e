"""flowrun in step granularity: one op per task, picklable results cross ops, the same report and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_files
from tests.flowrun.conftest import run_dag
from trakt_dagster import build_definitions
from trakt_dagster.core.definitions import load_graphs

MODULE = """
    '''Region totals: fetch orders, total them per region, write a CSV.'''
    import csv
    from pathlib import Path

    from flowrun import RunContext, build_default_engine

    OUT = Path(__file__).parent / "outputs"
    engine = build_default_engine(max_parallel=4)
    totals = engine.dag("totals")


    @totals.task()
    def orders():
        return [{"region": "eu", "amount": 10}, {"region": "us", "amount": 5}, {"region": "eu", "amount": 7}]


    @totals.task()
    def regions(orders):
        return sorted({o["region"] for o in orders})


    @totals.task()
    def sums(orders, regions):
        return {r: sum(o["amount"] for o in orders if o["region"] == r) for r in regions}


    @totals.task(deps=["sums"])
    def write(sums, context: RunContext[dict] = None):
        OUT.mkdir(exist_ok=True)
        target = OUT / f"totals_{context.metadata.get('label', 'x') if context else 'x'}.csv"
        with target.open("w", newline="") as fh:
            csv.writer(fh).writerows([["region", "total"], *sorted(sums.items())])
        return str(target.name)
"""


def report_view(manifest: dict) -> dict:
    report = manifest["flowrun_report"]
    tasks = {name: (s["status"], s["attempt"], s["result"], s["error"]) for name, s in report["tasks"].items()}
    return {"status": report["status"], "tasks": tasks, "order": report["task_order"], "dag": report["dag_name"]}


def test_both_granularities_give_the_same_results_report_and_files(tmp_path: Path, instance) -> None:
    seen = {}
    for granularity in ("pipeline", "step"):
        root = write_files(tmp_path / granularity, {"pipelines/totals/dag.py": MODULE})
        run = run_dag(root, "totals", instance, granularity=granularity)
        assert run.success
        seen[granularity] = (run, (root / "pipelines/totals/outputs/totals_x.csv").read_text())
    (pipe, pipe_csv), (step, step_csv) = seen["pipeline"], seen["step"]
    assert pipe_csv == step_csv == "region,total\neu,17\nus,5\n"
    assert report_view(pipe.manifest) == report_view(step.manifest)
    assert report_view(step.manifest)["tasks"]["sums"][2] == {"eu": 17, "us": 5}
    statuses = {k: v["status"] for k, v in step.manifest["tasks"].items()}
    assert statuses == {k: v["status"] for k, v in pipe.manifest["tasks"].items()}
    assert sorted(step.manifest["asset_keys"]) == sorted(pipe.manifest["asset_keys"])
    assert len(step.result.job_def.graph.nodes) == 4 and len(pipe.result.job_def.graph.nodes) == 1


def test_module_setting_selects_step_granularity_and_pool(tmp_path: Path) -> None:
    source = MODULE + '\n    flowrun_dagster = {"granularity": "step", "pool": "api"}\n'
    root = write_files(tmp_path, {"pipelines/totals/dag.py": source})
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    job = defs.resolve_job_def("totals")
    assert len(job.graph.nodes) == 4
    assert {node.definition.pool for node in job.graph.nodes} == {"api"}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('{"granularity": "tasks"}', "granularity must be 'pipeline' or 'step', not 'tasks'"),
        ('{"granularty": "step"}', "has unknown key 'granularty' (known: granularity, pool)"),
        ('"step"', "must be a dict of Dagster settings, not 'step'"),
    ],
)
def test_a_bad_flowrun_dagster_setting_is_a_load_error(tmp_path: Path, setting: str, message: str) -> None:
    root = write_files(tmp_path, {"pipelines/totals/dag.py": MODULE + f"\n    flowrun_dagster = {setting}\n"})
    _, errors = load_graphs(root)
    text = "\n".join(e.render() for e in errors)
    assert "flowrun_dagster" in text and message in text and "dag.py" in text
