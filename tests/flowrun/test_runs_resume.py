"""run_subgraph as an asset selection, resume as a real Dagster re-execution (persistent instance)."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from tests.conftest import dagster_home, write_files
from trakt_dagster.cli import main as cli
from trakt_dagster.flowrun.launch import resume_run, run_dag

DAG = """
    from pathlib import Path

    from trakt_dagster.flowrun import Pipeline, RunContext

    HERE = Path(__file__).parent
    pipeline = Pipeline("sq")


    def note(name):
        with open(HERE / "calls.txt", "a") as fh:
            fh.write(name + "\\n")


    def flowrun_context(metadata):
        return RunContext({"fail": (HERE / "fail.flag").exists()}, metadata)


    @pipeline.task()
    def src(context: RunContext[dict]):
        note("src")
        return int(context.metadata.get("n", 2))


    @pipeline.task()
    def sq(src):
        note("sq")
        return src * src


    @pipeline.task()
    def publish(sq, context: RunContext[dict]):
        note("publish")
        if context.deps["fail"]:
            raise RuntimeError("warehouse unavailable")
        return {"published": sq}


    @pipeline.task()
    def side():
        note("side")
        return "side"
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = write_files(tmp_path_factory.mktemp("resume"), {"pipelines/sq/dag.py": DAG})
    home = dagster_home(
        root / "home",
        "telemetry: {enabled: false}\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n",
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield root, instance


def calls(root: Path) -> list[str]:
    path = root / "pipelines" / "sq" / "calls.txt"
    found = path.read_text().split() if path.exists() else []
    path.write_text("")
    return found


def tasks(outcome) -> dict:
    return outcome.manifest["flowrun_report"]["tasks"]


def test_run_subgraph_is_an_asset_selection_row_28(env) -> None:
    root, instance = env
    calls(root)
    outcome = run_dag(root, "sq", targets=["sq"], runs_dir=str(root / "runs"), instance=instance)
    assert outcome.success
    assert sorted(calls(root)) == ["sq", "src"]  # the target and its ancestors only
    assert sorted(tasks(outcome)) == ["sq", "src"]
    records = instance.get_records_for_run(outcome.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    assert [r.asset_key.to_user_string() for r in records] == ["sq/sq"]  # src ran in support
    done = CliRunner().invoke(cli, ["flowrun", "run", "sq", "--target", "nope", "--root", str(root)])
    assert done.exit_code == 1 and "Task 'nope' is not in the DAG" in done.output


def test_resume_failed_run_then_from_tasks_with_new_metadata_row_29(env) -> None:
    root, instance = env
    runs = str(root / "runs")
    flag = root / "pipelines" / "sq" / "fail.flag"
    flag.write_text("fail")
    calls(root)
    failed = run_dag(root, "sq", metadata={"n": 3}, runs_dir=runs, instance=instance)
    assert not failed.success and tasks(failed)["publish"]["status"] == "FAILED"
    flag.unlink()
    calls(root)
    resumed = resume_run(root, failed.run_id, runs_dir=runs, instance=instance)
    assert resumed.success
    assert calls(root) == ["publish"]  # only what failed runs again, with sq's stored result
    report = resumed.manifest["flowrun_report"]
    assert report["metadata"] == {"n": 3}  # no new metadata: the resumed run's
    assert tasks(resumed)["publish"]["result"] == {"published": 9}
    assert tasks(resumed)["src"] == tasks(failed)["src"]  # preserved as reported (attempt, timestamps)
    run = instance.get_run_by_id(resumed.run_id)
    assert run.parent_run_id == failed.run_id
    materialized = instance.get_records_for_run(resumed.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert [r.asset_key.to_user_string() for r in materialized.records] == ["sq/publish"]
    again = resume_run(root, resumed.run_id, from_tasks=["sq"], metadata={"n": 10}, runs_dir=runs, instance=instance)
    assert again.success
    assert sorted(calls(root)) == ["publish", "sq"]  # sq and its descendants; src kept (from the first run's folder)
    assert tasks(again)["src"]["result"] == 3 and tasks(again)["publish"]["result"] == {"published": 9}
    assert again.manifest["flowrun_report"]["metadata"] == {"n": 10}
    assert again.manifest["flowrun_resume"]["preserved"] == {"side": failed.run_id, "src": failed.run_id}


def test_unknown_from_tasks_and_subgraph_resume_row_30(env) -> None:
    root, instance = env
    runs = str(root / "runs")
    first = run_dag(root, "sq", runs_dir=runs, instance=instance)
    bad = resume_run(root, first.run_id, from_tasks=["nope"], runs_dir=runs, instance=instance)
    assert not bad.success
    assert (
        bad.manifest["error"]["message"]
        == "Cannot resume from unknown tasks: nope. Available tasks: src, sq, publish, side."
    )
    sub = run_dag(root, "sq", targets=["sq"], runs_dir=runs, instance=instance)
    calls(root)
    resumed = resume_run(root, sub.run_id, from_tasks=["sq"], runs_dir=runs, instance=instance)
    assert resumed.success and calls(root) == ["sq"]
    assert sorted(tasks(resumed)) == ["sq", "src"]  # N8: publish and side were not part of the run


def test_resume_unknown_run_row_31(env) -> None:
    root, instance = env
    with pytest.raises(KeyError, match="No run 'unknown' in the Dagster instance"):
        resume_run(root, "unknown", runs_dir=str(root / "runs"), instance=instance)


def test_dagster_reexecution_strategies(env) -> None:
    """Dagster's own API: from failure resumes (flowrun), re-execute all recomputes everything."""
    root, instance = env
    runs = str(root / "runs")
    flag = root / "pipelines" / "sq" / "fail.flag"
    flag.write_text("fail")
    failed = run_dag(root, "sq", runs_dir=runs, instance=instance)
    flag.unlink()
    job = dg.build_reconstructable_job(
        "trakt_dagster.flowrun.launch", "flowrun_job", reconstructable_args=(str(root), "sq", runs)
    )
    config = {"execution": {"config": {"in_process": {}}}}
    calls(root)
    options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
    with dg.execute_job(job, instance, run_config=config, reexecution_options=options) as result:
        assert result.success
    assert calls(root) == ["publish"]
    with dg.execute_job(
        job, instance, run_config=config, reexecution_options=dg.ReexecutionOptions(parent_run_id=result.run_id)
    ) as everything:
        assert everything.success
    assert sorted(calls(root)) == ["publish", "side", "sq", "src"]


def test_resume_command_prints_the_progress_of_what_runs_again(env) -> None:
    root, instance = env
    flag = root / "pipelines" / "sq" / "fail.flag"
    flag.write_text("fail")
    failed = run_dag(root, "sq", runs_dir=str(root / "runs"), instance=instance)
    assert not failed.success
    flag.unlink()
    calls(root)
    done = CliRunner().invoke(
        cli, ["flowrun", "resume", failed.run_id, "--root", str(root)], env={"DAGSTER_HOME": str(root / "home")}
    )
    assert done.exit_code == 0, done.output
    assert calls(root) == ["publish"]  # only what failed, with its start and end (plain lines: not a terminal)
    lines = done.stderr.splitlines()
    assert lines[0] == "sq [publish] started" and len(lines) == 2, done.stderr  # not Dagster's INFO log
    assert re.fullmatch(r"sq \[publish\] succeeded in \S+ s \(1/1 done\)", lines[1]), done.stderr
    assert "status: SUCCESS" in done.stdout
