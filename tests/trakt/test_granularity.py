"""Step granularity: one op per step, values through the run folder; same results as pipeline granularity."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob

from tests.conftest import dagster_home, run_trakt, write_files
from tests.e2e.conftest import BIN
from tests.trakt.steps_fixtures import STEP_FILES
from trakt_dagster.core.metadata import TaskRunMetadataSet

YAML = """
    name: twice
    inputs: {records: records.csv, lookup: lookup.csv}
    steps:
      - {id: remember, uses: steps.remember, with: {input: records, output: seen}}
      - {id: join, uses: steps.join, with: {frames: {records: seen, lookup: lookup}, output: joined}}
      - {id: recall, uses: steps.recall, with: {input: joined, output: recalled}}
      - {id: m, uses: steps.metrics, with: {input: recalled, output: final_rows}}
    outputs: {final: final_rows, joined: joined}
"""
FILES = {**STEP_FILES, "records.csv": "id,amount\n1,10\n2,20\n", "lookup.csv": "id,name\n1,a\n"}


def comparable(manifest: dict) -> dict:
    steps = [{k: v for k, v in s.items() if k != "duration_ms"} for s in manifest["steps"]]
    outputs = {k: {**v, "path": Path(v["path"]).name} for k, v in manifest["outputs"].items()}
    tasks = {k: v["status"] for k, v in manifest["tasks"].items()}
    return {
        "status": manifest["status"],
        "inputs": manifest["inputs"],
        "steps": steps,
        "outputs": outputs,
        "tasks": tasks,
        "asset_keys": sorted(manifest["asset_keys"]),
    }


def test_both_granularities_give_identical_outputs_and_equivalent_manifests(tmp_path: Path, instance) -> None:
    results = {}
    for granularity in ("pipeline", "step"):
        folder = tmp_path / granularity
        write_files(folder, {**FILES, "pipeline.yaml": YAML})
        run = run_trakt(folder / "pipeline.yaml", instance, granularity=granularity)
        assert run.success, run.failure_message()
        results[granularity] = run
    pipe, step = results["pipeline"], results["step"]
    for name in ("final.csv", "joined.csv"):
        assert pipe.output(name) == step.output(name)
    assert "seen_rows" in step.output("final.csv")  # ctx.metadata crossed from op 'remember' to op 'recall'
    assert comparable(pipe.manifest) == comparable(step.manifest)
    assert step.manifest["granularity"] == "step" and step.trakt_manifest == step.manifest
    ops = {node.name for node in step.result.job_def.graph.nodes}
    assert ops == {"twice__remember", "twice__join", "twice__recall", "twice__m", "twice__final", "twice__joined"}
    # a step's materialization says where its value is stored for the next op, through the core's run set
    # (`value_files`, not `trakt/files`: that key is a load-error placeholder's list of broken files)
    raw = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in step.result.get_asset_materialization_events()
    }
    stored = TaskRunMetadataSet.extract(raw["twice/remember"])
    folder, names = Path(stored.value_path.value), stored.value_files.value
    assert folder.is_dir() and names and all((folder / name).is_file() for name in names)
    assert not {k for m in step.materializations().values() for k in m} & {"trakt/files"}


def test_unpicklable_artifact_fails_with_a_clear_error(tmp_path: Path, instance) -> None:
    write_files(
        tmp_path,
        {
            **FILES,
            "steps/lock.py": "import threading\n\ndef run(ctx, input):\n    return {'output': threading.Lock()}\n",
            "pipeline.yaml": """
                name: unpicklable
                inputs: {records: records.csv}
                steps:
                  - {id: lock, uses: steps.lock, with: {input: records, output: handle}}
                  - {id: after, uses: steps.double, with: {input: handle, output: o}}
            """,
        },
    )
    run = run_trakt(tmp_path / "pipeline.yaml", instance, granularity="step")
    assert not run.success
    assert "Artifact 'handle' of task 'lock' cannot be stored between ops" in run.failure_message()
    assert "granularity 'pipeline'" in run.failure_message()


def test_multiprocess_executor_and_reexecution_from_failure(tmp_path: Path) -> None:
    flag = tmp_path / "fail_once.flag"
    flag.write_text("fail")
    write_files(
        tmp_path,
        {
            **{f"pipelines/flaky/{k}": v for k, v in FILES.items()},
            "pipelines/flaky/steps/flaky.py": f"""
                from pathlib import Path

                def run(ctx, input):
                    flag = Path({str(flag)!r})
                    if flag.exists():
                        flag.unlink()
                        raise RuntimeError("transient failure")
                    return {{"output": input.assign(ok=1)}}
            """,
            "pipelines/flaky/pipeline.yaml": """
                inputs: {records: records.csv}
                steps:
                  - {id: first, uses: steps.double, with: {input: records, output: doubled}}
                  - {id: flaky, uses: steps.flaky, with: {input: doubled, output: checked}}
                outputs: {final: checked}
                dagster: {granularity: step}
            """,
            "definitions.py": "from pathlib import Path\nfrom trakt_dagster import build_definitions\n\n"
            "defs = build_definitions(Path(__file__).parent)\njob = defs.resolve_job_def('flaky')\n",
            "home/dagster.yaml": "telemetry: {enabled: false}\nrun_coordinator:\n"
            "  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n",
        },
    )
    home = dagster_home(tmp_path / "home")
    failed = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-f", "definitions.py", "-j", "flaky"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"DAGSTER_HOME": str(home), "PATH": str(BIN)},
    )
    assert failed.returncode != 0
    assert "multiprocess" in failed.stdout + failed.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.get_run_records()
        parent = record.dagster_run
        assert parent.status == dg.DagsterRunStatus.FAILURE
        job = ReconstructableJob.for_file(str(tmp_path / "definitions.py"), "job")
        options = dg.ReexecutionOptions.from_failure(parent.run_id, instance)
        with dg.execute_job(job, instance=instance, reexecution_options=options) as result:
            assert result.success
            executed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert executed == {"flaky__flaky", "flaky__final"}
    out = tmp_path / "pipelines" / "flaky" / "outputs"
    assert (out / "final.csv").read_text() == "id,amount,ok\n1,20,1\n2,40,1\n"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["dagster_run_id"] == result.run_id
