"""Killed run workers (real SIGKILL of real processes) on an instance with the settings `make run` ships.

A real `dagster-daemon` runs run monitoring (and the run-folders sensor). For trakt, pit and flowrun: a run
is started from the command line, killed in the middle of a task; Dagster must mark it failed, its
manifest must say `failed` with what finished, pit's task processes must die with their worker, and a
re-execution from failure must give outputs byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest

from tests.conftest import REPO, write_files
from tests.e2e.conftest import BIN
from trakt_dagster import build_definitions
from trakt_dagster.core.instance import prepare_dagster_home
from trakt_dagster.core.names import dagster_name

DETECTION_BOUND_S = 180
"""Generous: run monitoring polls every 10 s with the shipped settings; the machine may be loaded."""

WAIT_FOR_RELEASE = """
import os, time
from pathlib import Path

def hold(name):
    signals = Path(os.environ["KILL_TEST_SIGNALS"])
    (signals / f"{name}.started").write_text(str(os.getpid()))
    while not (signals / f"{name}.release").exists():
        time.sleep(0.05)
"""

FILES = {
    "definitions.py": """
        from pathlib import Path

        from trakt_dagster import build_definitions

        defs = build_definitions(Path(__file__).parent)
    """,
    "workspace.yaml": """
        load_from:
          - python_file:
              relative_path: definitions.py
              location_name: kill_tests
              working_directory: .
    """,
    # trakt: load -> double -> (hold) -> outputs
    "pipelines/tk/pipeline.yaml": """
        name: tk
        inputs: {src: a.csv}
        steps:
          - {id: double, uses: steps.double, with: {input: src, output: doubled}}
          - {id: held, uses: steps.held, with: {input: doubled, output: final}}
        outputs: {final: final, doubled: doubled}
    """,
    "pipelines/tk/a.csv": "id,amount\n1,10\n2,20\n3,30\n",
    "pipelines/tk/steps/__init__.py": "",
    "pipelines/tk/steps/hold.py": WAIT_FOR_RELEASE,
    "pipelines/tk/steps/double.py": """
        def run(ctx, input):
            out = input.copy()
            out["amount"] = out["amount"] * 2
            return {"output": out}
    """,
    "pipelines/tk/steps/held.py": """
        from steps.hold import hold

        def run(ctx, input):
            hold("tk")
            return {"output": input.assign(total=input["amount"].cumsum())}
    """,
    # flowrun: first -> held -> outputs/result.json
    "pipelines/fr/dag.py": """
        import json
        import os
        import time
        from pathlib import Path

        from trakt_dagster.flowrun import Pipeline

        HERE = Path(__file__).parent
        pipeline = Pipeline("fr")


        @pipeline.task()
        def first():
            with open(HERE / "first_calls.txt", "a") as fh:
                fh.write("called\\n")
            return [1, 2, 3]


        @pipeline.task()
        def held(first):
            signals = Path(os.environ["KILL_TEST_SIGNALS"])
            (signals / "fr.started").write_text(str(os.getpid()))
            while not (signals / "fr.release").exists():
                time.sleep(0.05)
            result = {"sum": sum(first), "items": first}
            (HERE / "outputs").mkdir(exist_ok=True)
            (HERE / "outputs" / "result.json").write_text(json.dumps(result, sort_keys=True))
            return result
    """,
    # pit: quick (its thread ends before held starts) -> held (with a grandchild process) -> load
    "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
    "secrets.toml": '[pk]\nwh = "duckdb:///warehouse/pk.duckdb"\n',
    "projects/pk/pit.toml": """
        [[tasks]]
        name = "quick"
        script = "quick.py"
        [[tasks]]
        name = "held"
        script = "held.py"
        depends_on = ["quick"]
        [[tasks]]
        name = "load"
        type = "load"
        source = "totals.parquet"
        table = "mart.totals"
        mode = "create_or_replace"
        connection = "wh"
        depends_on = ["held"]
    """,
    "projects/pk/quick.py": """
        import pandas as pd
        from pit_sdk import write_output

        write_output("numbers", pd.DataFrame({"n": [1, 2, 3]}))
    """,
    "projects/pk/held.py": """
        import os
        import subprocess
        import time
        from pathlib import Path

        import pandas as pd
        from pit_sdk import read_input, write_output

        signals = Path(os.environ["KILL_TEST_SIGNALS"])
        child = subprocess.Popen(["sleep", "600"])  # a grandchild in the task's process group
        (signals / "pk.grandchild").write_text(str(child.pid))
        (signals / "pk.started").write_text(str(os.getpid()))
        while not (signals / "pk.release").exists():
            time.sleep(0.05)
        child.kill()
        numbers = read_input("numbers").to_pandas()
        write_output("totals", pd.DataFrame({"total": [int(numbers["n"].sum())]}))
    """,
}


def kill_test_job(root: str, job_name: str) -> dg.JobDefinition:
    """The job as the code location defines it (for re-execution through a reconstructable job)."""
    return build_definitions(Path(root)).resolve_job_def(job_name)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DETECTION_BOUND_S) -> Any:
    """Poll `condition` until it returns something truthy (an event), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_files(tmp_path_factory.mktemp("kills"), FILES)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A DAGSTER_HOME with the instance settings `make run` ships (deploy/dagster.yaml), prepared once."""
    folder = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "deploy" / "dagster.yaml", folder / "dagster.yaml")
    return prepare_dagster_home(folder)


@pytest.fixture(scope="module")
def env(root: Path, home: Path) -> dict[str, str]:
    signals = root / "signals"
    signals.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "KILL_TEST_SIGNALS": str(signals),
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "TRAKT_DAGSTER_RUNS_DIR": str(root / "runs"),
    }


@pytest.fixture(scope="module")
def instance(home: Path, env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


@pytest.fixture(scope="module")
def daemon(root: Path, env: dict[str, str], instance: dg.DagsterInstance) -> Iterator[subprocess.Popen[bytes]]:
    """A real dagster-daemon (run monitoring, sensors) on the instance, until the module's tests end."""
    log = open(root / "daemon.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: proc.poll() is not None or {"MONITORING", "SENSOR"} <= set(instance.get_daemon_heartbeats()),
            "the daemon's monitoring and sensor heartbeats",
        )
        assert proc.poll() is None, (root / "daemon.log").read_text()
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        log.close()


def cli_run(name: str, root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "trakt-dagster"), "run", name, "--root", str(root), "-q"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def newest_run(instance: dg.DagsterInstance, job: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job), limit=1)
    return runs[0] if runs else None


def manifest(root: Path, pipeline: str, run_id: str) -> dict[str, Any] | None:
    path = root / "runs" / dagster_name(pipeline) / run_id / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def outputs_of(root: Path, tool: str, run_id: str) -> dict[str, bytes]:
    """The files a run produced, by name: trakt's output folder, flowrun's outputs/, pit's run data/."""
    if tool == "tk":
        folder = root / "pipelines/tk/outputs"
        return {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    if tool == "fr":
        return {"result.json": (root / "pipelines/fr/outputs/result.json").read_bytes()}
    folder = root / "runs" / "pk" / run_id / "data"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


def reexecute_from_failure(root: Path, run: dg.DagsterRun, instance: dg.DagsterInstance, env: dict[str, str]):
    job = dg.build_reconstructable_job(
        "tests.e2e.test_kills", "kill_test_job", reconstructable_args=(str(root), run.job_name)
    )
    options = dg.ReexecutionOptions.from_failure(run.run_id, instance)
    run_config = dict(run.run_config or {})
    if kill_test_job(str(root), run.job_name).executor_def.name != dg.in_process_executor.name:
        run_config["execution"] = {"config": {"in_process": {}}}  # (pit's DAGs run in process already)
    old = {k: os.environ.get(k) for k in ("KILL_TEST_SIGNALS", "TRAKT_DAGSTER_RUNS_DIR")}
    os.environ.update({k: env[k] for k in old})
    try:
        with dg.execute_job(
            job,
            instance,
            run_config=run_config,
            reexecution_options=options,
        ) as result:
            return result.run_id, result.success
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


CASES = {
    # pipeline: (finished before the kill, the task killed in the middle, tasks never started)
    "tk": ({"input:src", "double"}, "held", {"output:final", "output:doubled"}),
    "fr": ({"first"}, "held", set()),
    "pk": ({"quick"}, "held", {"load"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", list(CASES))
def test_a_killed_run_is_marked_failed_and_reexecutes_to_identical_outputs(
    pipeline: str, root: Path, env: dict[str, str], instance: dg.DagsterInstance, daemon
) -> None:
    signals = Path(env["KILL_TEST_SIGNALS"])
    release = signals / f"{pipeline}.release"
    # an uninterrupted run first: the reference outputs
    release.write_text("go")
    reference = cli_run(pipeline, root, env)
    out, _ = reference.communicate(timeout=600)
    assert reference.returncode == 0, out.decode()
    reference_run = newest_run(instance, pipeline)
    assert reference_run is not None
    expected = outputs_of(root, pipeline, reference_run.run_id)
    assert expected
    shutil.rmtree(root / "pipelines" / pipeline / "outputs", ignore_errors=True)  # re-written by the re-execution
    # the run to kill: SIGKILL its worker (the CLI process) while the held task runs
    release.unlink()
    (signals / f"{pipeline}.started").unlink(missing_ok=True)
    worker = cli_run(pipeline, root, env)
    started = wait_for(lambda: (signals / f"{pipeline}.started").exists(), "the held task to start", timeout=300)
    assert started
    task_pids = [int((signals / f"{pipeline}.started").read_text())]
    if pipeline == "pk":
        task_pids.append(int((signals / "pk.grandchild").read_text()))
    os.kill(worker.pid, signal.SIGKILL)  # the CLI process is the run worker
    worker.wait(timeout=60)
    if pipeline == "pk":  # the task's processes (and the grandchild) die with their worker
        wait_for(
            lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in task_pids),
            "the pit task processes to end",
            timeout=30,
        )
    killed = newest_run(instance, pipeline)
    assert killed is not None and killed.run_id != reference_run.run_id
    # run monitoring marks it failed; the run-folders sensor finalizes its manifest
    wait_for(lambda: instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE, "the run to fail")
    final = wait_for(
        lambda: (m := manifest(root, pipeline, killed.run_id)) and m["status"] == "failed" and m,
        "the manifest to say failed",
    )
    done, held, never = CASES[pipeline]
    tasks = final["tasks"]
    assert {k for k, s in tasks.items() if s["status"] == "success"} == done, tasks
    assert tasks[held]["status"] == "failed" and tasks[held]["error"]["type"] == "RunWorkerLost"
    assert {k for k, s in tasks.items() if s["status"] == "skipped"} == never
    assert final["error"]["type"] == "RunWorkerLost"
    if pipeline == "pk":
        assert final["pit"]["status"] == "failed" and final["pit"]["tasks"]["held"]["status"] == "failed"
    # re-execution from failure completes with the same bytes
    release.write_text("go")
    new_id, success = reexecute_from_failure(root, instance.get_run_by_id(killed.run_id), instance, env)
    assert success
    assert outputs_of(root, pipeline, new_id) == expected
    if pipeline == "fr":  # flowrun's resume semantics: the finished task was not run again
        assert (root / "pipelines/fr/first_calls.txt").read_text().count("called") == 2
