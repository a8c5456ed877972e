"""pit in step granularity: one op per task, files carry the data, task retries are Dagster retries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob

from tests.e2e.conftest import BIN
from tests.pit.conftest import DEFINITIONS_PY, INSTANCE_YAML, run_pit, workspace
from trakt_dagster import build_definitions

PROJECT = {
    "projects/chain/pit.toml": """
        [dag]
        name = "chain"

        [[tasks]]
        name = "fetch-orders"
        script = "fetch.py"

        [[tasks]]
        name = "double"
        script = "double.py"
        depends_on = ["fetch-orders"]

        [[tasks]]
        name = "count"
        script = "count.sh"
        depends_on = ["fetch-orders"]

        [[tasks]]
        name = "report"
        script = "report.py"
        depends_on = ["double", "count"]
    """,
    "projects/chain/fetch.py": """
        import os, pathlib
        pathlib.Path(os.environ["PIT_DATA_DIR"], "orders.csv").write_text("id,amount\\n1,10\\n2,25\\n")
        print("fetched 2 orders")
    """,
    "projects/chain/double.py": """
        import os, pathlib
        data = pathlib.Path(os.environ["PIT_DATA_DIR"])
        rows = (data / "orders.csv").read_text().splitlines()[1:]
        out = ["id,amount"] + [f"{r.split(',')[0]},{int(r.split(',')[1]) * 2}" for r in rows]
        (data / "doubled.csv").write_text("\\n".join(out) + "\\n")
    """,
    "projects/chain/count.sh": """
        tail -n +2 "$PIT_DATA_DIR/orders.csv" | wc -l | tr -d ' ' > "$PIT_DATA_DIR/count.txt"
    """,
    "projects/chain/report.py": """
        import os, pathlib
        data = pathlib.Path(os.environ["PIT_DATA_DIR"])
        total = sum(int(r.split(",")[1]) for r in (data / "doubled.csv").read_text().splitlines()[1:])
        (data / "report.txt").write_text(f"{(data / 'count.txt').read_text().strip()} orders, total {total}\\n")
    """,
}


def comparable(manifest: dict) -> dict:
    """What must match between granularities: statuses, attempts, asset keys, pit's own report."""
    tasks = {k: (v["status"], v.get("attempts")) for k, v in manifest["tasks"].items()}
    pit = {k: {f: v.get(f) for f in ("status", "attempts", "error")} for k, v in manifest["pit"]["tasks"].items()}
    report = {k: manifest["pit"][k] for k in ("status", "outputs", "dag_name")}
    return {"status": manifest["status"], "tasks": tasks, "pit": pit, "report": report, "keys": manifest["asset_keys"]}


def test_both_granularities_give_the_same_files_and_manifest(tmp_path: Path, instance) -> None:
    runs = {}
    for granularity in ("pipeline", "step"):
        root = workspace(tmp_path / granularity, PROJECT)
        run = run_pit(root, "chain", instance, granularity=granularity)
        assert run.success, run.dagster_log_text()
        runs[granularity] = run
    pipe, step = runs["pipeline"], runs["step"]
    for name in ("orders.csv", "doubled.csv", "count.txt", "report.txt"):
        assert (pipe.folder / "data" / name).read_text() == (step.folder / "data" / name).read_text()
    assert (step.folder / "data" / "report.txt").read_text() == "2 orders, total 70\n"
    assert comparable(pipe.manifest) == comparable(step.manifest)
    assert step.manifest["granularity"] == "step" and pipe.manifest["granularity"] == "pipeline"
    fragments = [json.loads(p.read_text()) for p in (step.folder / "fragments").glob("*.json")]
    assert len(fragments) == 4 and len({f["extra"]["pit"]["run_id"] for f in fragments}) == 1  # one pit run id
    ops = {node.name for node in step.result.job_def.graph.nodes}
    assert ops == {dg.AssetKey.from_user_string(k).to_python_identifier() for k in step.manifest["asset_keys"]}
    assert len(ops) == 4
    assert len(pipe.result.job_def.graph.nodes) == 1


FLAKY = {
    "projects/flaky/pit.toml": """
        [dag]
        name = "flaky"

        [dag.dagster]
        granularity = "step"

        [[tasks]]
        name = "prepare"
        script = "prepare.sh"

        [[tasks]]
        name = "flaky"
        script = "flaky.sh"
        depends_on = ["prepare"]
        retries = 2
        retry_delay = "1s"
    """,
    "projects/flaky/prepare.sh": 'echo ready > "$PIT_DATA_DIR/ready.txt"\n',
    "projects/flaky/flaky.sh": """
        n=$(cat "$PIT_DATA_DIR/count" 2>/dev/null || echo 0)
        n=$((n + 1))
        echo "$n" > "$PIT_DATA_DIR/count"
        echo "attempt $n"
        [ "$n" -ge 2 ] || { echo "ERROR: not yet"; exit 1; }
    """,
}


def test_pit_toml_selects_step_granularity_and_retries_become_a_dagster_retry_policy(tmp_path: Path, instance) -> None:
    root = workspace(tmp_path, FLAKY)
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    job = defs.resolve_job_def("flaky")
    policies = {node.name: node.definition.retry_policy for node in job.graph.nodes}
    assert policies["flaky__prepare"] is None
    assert policies["flaky__flaky"] == dg.RetryPolicy(max_retries=2, delay=1.0)
    run = run_pit(root, "flaky", instance)
    assert run.success, run.dagster_log_text()
    events = [e for e in run.result.all_events if e.step_key == "flaky__flaky"]
    assert [e.event_type_value for e in events].count("STEP_UP_FOR_RETRY") == 1
    assert [e.event_type_value for e in events].count("STEP_START") == 1
    assert [e.event_type_value for e in events].count("STEP_RESTARTED") == 1
    assert run.report["tasks"]["flaky"]["status"] == "success"
    assert run.manifest["tasks"]["flaky"]["attempts"] == 2
    assert run.report["tasks"]["flaky"]["attempts"] == 2
    assert "attempt 1" in run.log("flaky") and "attempt 2" in run.log("flaky")


def test_a_bad_granularity_in_pit_toml_is_a_load_error(tmp_path: Path) -> None:
    from tests.pit.conftest import load_errors

    files = dict(FLAKY)
    files["projects/flaky/pit.toml"] = files["projects/flaky/pit.toml"].replace('"step"', '"per-task"')
    root = workspace(tmp_path, files)
    text = load_errors(root)
    assert "[dag.dagster] granularity must be 'pipeline' or 'step', not 'per-task'" in text
    assert "pit.toml:5" in text


def test_multiprocess_executor_then_reexecute_one_task(tmp_path: Path) -> None:
    files = dict(PROJECT)
    files["projects/chain/pit.toml"] = files["projects/chain/pit.toml"].replace(
        'name = "chain"\n', 'name = "chain"\n\n        [dag.dagster]\n        granularity = "step"\n', 1
    )
    root = workspace(tmp_path, {**files, "home/dagster.yaml": INSTANCE_YAML})
    (root / "definitions.py").write_text(DEFINITIONS_PY + "job = defs.resolve_job_def('chain')\n")
    home = root / "home"
    first = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-f", "definitions.py", "-j", "chain"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={"DAGSTER_HOME": str(home), "PATH": f"{BIN}:/usr/bin:/bin"},
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "multiprocess" in first.stdout + first.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.get_run_records()
        parent = record.dagster_run
        pids = {
            e.dagster_event.pid
            for e in instance.all_logs(parent.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"
        }
        assert len(pids) == 4  # every task ran in its own process
        job = ReconstructableJob.for_file(str(root / "definitions.py"), "job")
        options = dg.ReexecutionOptions(parent_run_id=parent.run_id, step_selection=["chain__report"])
        with dg.execute_job(job, instance=instance, reexecution_options=options) as again:
            assert again.success
            executed = {e.step_key for e in again.all_events if e.event_type_value == "STEP_SUCCESS"}
            run_id = again.run_id
    assert executed == {"chain__report"}
    manifest = json.loads((root / "runs" / "chain" / run_id / "manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["tasks"]["report"]["status"] == "success"
    # the re-executed task read the files its upstream tasks wrote in the parent run
    assert (root / "runs" / "chain" / run_id / "data" / "report.txt").read_text() == "2 orders, total 70\n"
