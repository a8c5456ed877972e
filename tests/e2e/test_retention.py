"""Run folder retention for every tool: per-pipeline settings, the root default, never a run still going."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import execute_dag, write_files
from trakt_dagster import build_definitions
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.retention import RetentionPolicy, apply_retention

TRAKT = {
    "pipelines/keep/pipeline.yaml": """
        name: keep
        inputs: {src: a.csv}
        outputs: {copy: src}
        dagster:
          retention: {keep_runs: 2, keep_artifacts: [logs]}
    """,
    "pipelines/keep/a.csv": "id\n1\n",
}
FLOWRUN = {
    "pipelines/tiny/dag.py": """
        from trakt_dagster.flowrun import Pipeline

        pipeline = Pipeline("tiny")
        flowrun_retention = {"keep_runs": 1}


        @pipeline.task()
        def one():
            return 1
    """,
}
PIT = {
    "projects/p/pit.toml": """
        [dag]
        keep_artifacts = ["logs"]
        [dag.dagster]
        keep_runs = 3
        [[tasks]]
        name = "t"
        script = "t.sh"
    """,
    "projects/p/t.sh": "echo hi\n",
}


def run_folders(root: Path, pipeline: str) -> dict[str, list[str]]:
    """Run id → the entries of its run folder, for the folders holding a manifest."""
    base = root / "runs" / dagster_name(pipeline)
    return {p.name: sorted(c.name for c in p.iterdir()) for p in base.iterdir() if (p / "manifest.json").is_file()}


def test_every_tool_keeps_its_newest_runs_and_only_the_kept_artifacts(tmp_path: Path, instance) -> None:
    root = write_files(tmp_path, {**TRAKT, **FLOWRUN, **PIT})
    ids: dict[str, list[str]] = {"keep": [], "tiny": [], "p": []}
    for _ in range(4):
        for name in ids:
            result = execute_dag(root, name, instance)
            assert result.success
            ids[name].append(result.run_id)
    keep = run_folders(root, "keep")
    assert set(keep) == set(ids["keep"][-2:])  # trakt: keep_runs 2, only logs/ beside the manifest
    assert all(entries == ["logs", "manifest.json"] for entries in keep.values()), keep
    assert set(run_folders(root, "tiny")) == {ids["tiny"][-1]}  # flowrun: keep_runs 1
    pit = run_folders(root, "p")
    assert set(pit) == set(ids["p"][-3:])  # pit: [dag.dagster] keep_runs 3, pit's own keep_artifacts
    assert all(entries == ["logs", "manifest.json"] for entries in pit.values()), pit
    assert (root / "pipelines/keep/outputs/copy.csv").read_text() == "id\n1\n"  # outputs are not run folders


def test_the_root_default_applies_where_a_pipeline_sets_nothing(
    tmp_path: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {**TRAKT, **PIT}
    files["pipelines/keep/pipeline.yaml"] = "name: keep\ninputs: {src: a.csv}\noutputs: {copy: src}\n"
    root = write_files(tmp_path, files)
    defs = build_definitions(root, runs_dir=str(root / "runs"), retention=RetentionPolicy(keep_runs=1))
    job = defs.resolve_job_def("keep")
    last = [job.execute_in_process(instance=instance).run_id for _ in range(3)][-1]
    assert set(run_folders(root, "keep")) == {last}
    # the deployment's environment is the default of the default; a pipeline's own setting wins over both
    monkeypatch.setenv("TRAKT_DAGSTER_KEEP_RUNS", "2")
    pit_ids = [execute_dag(root, "p", instance).run_id for _ in range(4)]
    assert set(run_folders(root, "p")) == set(pit_ids[-3:])
    trakt_ids = [execute_dag(root, "keep", instance).run_id for _ in range(3)]
    assert set(run_folders(root, "keep")) == set(trakt_ids[-2:])


def fake_run(base: Path, status: str, started: str) -> str:
    run_id = str(uuid.uuid4())
    folder = base / run_id
    (folder / "project").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"status": status, "started_at": started}))
    return run_id


def test_a_run_still_going_is_never_removed(tmp_path: Path, instance) -> None:
    base = tmp_path / "runs" / "p"
    going_known = fake_run(base, "running", "2020-01-01T00:00:00+00:00")
    instance.add_run(dg.DagsterRun(job_name="p", run_id=going_known, status=dg.DagsterRunStatus.STARTED))
    going_unknown = fake_run(base, "running", "2020-01-02T00:00:00+00:00")  # not in this instance
    dead = fake_run(base, "running", "2020-01-03T00:00:00+00:00")  # the manifest lags: the run failed
    instance.add_run(dg.DagsterRun(job_name="p", run_id=dead, status=dg.DagsterRunStatus.FAILURE))
    old = [fake_run(base, "success", f"2021-01-0{i}T00:00:00+00:00") for i in range(1, 4)]
    current = fake_run(base, "running", "2022-01-01T00:00:00+00:00")

    from trakt_dagster.core.execution import finished_runs

    removed = apply_retention(
        base,
        RetentionPolicy(keep_runs=1, keep_days=1, keep_artifacts=("logs",)),
        current_run_id=current,
        finished=lambda ids: finished_runs(instance, ids),
    )
    assert sorted(removed) == sorted([dead, *old])
    assert sorted(p.name for p in base.iterdir()) == sorted([going_known, going_unknown, current])
    assert (base / going_known / "project").is_dir()  # a going run is not pruned either
    assert not (base / current / "project").exists()  # the run now ending is pruned, never removed


def test_bad_retention_settings_are_load_errors(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "pipelines/bad/pipeline.yaml": """
                name: bad
                inputs: {src: a.csv}
                outputs: {copy: src}
                dagster:
                  retention: {keep_runs: 0, keep_artifacts: [cache]}
            """,
            "pipelines/bad/a.csv": "id\n1\n",
            "pipelines/tiny/dag.py": FLOWRUN["pipelines/tiny/dag.py"].replace('{"keep_runs": 1}', '{"keep_days": -1}'),
            "projects/p/pit.toml": PIT["projects/p/pit.toml"].replace("keep_runs = 3", "keep_runs = 0"),
            "projects/p/t.sh": "echo hi\n",
        },
    )
    graphs, errors = load_graphs(root)
    text = "\n".join(e.render() for e in errors)
    assert graphs == []
    assert "Pipeline 'dagster.retention.keep_runs' must be a whole number of at least 1." in text
    assert "Pipeline 'dagster.retention.keep_artifacts' unknown folder(s): cache" in text
    assert "flowrun_retention['keep_days'] must be a number of days above 0" in text and "dag.py" in text
    assert "[dag.dagster] keep_runs must be a whole number of at least 1" in text and "pit.toml" in text
