"""How a run keeps its manifest and run log current cheaply: only changed tasks re-encoded, paced rewrites,
batched run-log lines; and that nothing is lost at the end, after a failure, or when the process is killed."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import write_files
from trakt_dagster.core import run_folder
from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.events import TaskFailed, TaskLogged, TaskRetrying, TaskSkipped, TaskStarted, TaskSucceeded
from trakt_dagster.core.graph import Task, TaskGraph, TaskResult, TaskRole
from trakt_dagster.core.json_parts import PartsEncoder, VersionedDict
from trakt_dagster.core.manifest import RunManifest, to_json
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.run_log import RunLogBatcher

TIMING = ("started_at", "finished_at", "duration_ms")


def chain(n: int, fail_at: int | None = None) -> TaskGraph:
    """`t000 → t001 → …`; `t<fail_at>` raises."""

    def step(i: int):
        def run(ctx, upstream):
            if i == fail_at:
                raise ValueError(f"task {i} broke")
            ctx.log.info(f"step {i} ran")
            return TaskResult(value=i, metadata={"n": i}, record={"rows_out": i})

        return run

    tasks = tuple(
        Task(f"t{i:03d}", run=step(i), deps=(f"t{i - 1:03d}",) if i else (), role=TaskRole.STEP) for i in range(n)
    )
    return TaskGraph("many", "test", Path("many.py"), tasks=tasks)


def run_chain(tmp_path: Path, instance, graph: TaskGraph) -> tuple[dg.ExecuteInProcessResult, dict]:
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=str(tmp_path / "runs")))
    result = defs.resolve_job_def("many").execute_in_process(instance=instance, raise_on_error=False)
    manifest = json.loads((tmp_path / "runs" / "many" / result.run_id / "manifest.json").read_text())
    return result, manifest


def without_timing(manifest: dict) -> dict:
    """The manifest without what differs between two runs of the same graph (times, run ids, folders)."""
    skip = {"run_id", "dagster_run_id", "run_folder", *TIMING}
    data = {k: v for k, v in manifest.items() if k not in skip}
    data["tasks"] = {k: {f: v for f, v in s.items() if f not in TIMING} for k, s in manifest["tasks"].items()}
    data["steps"] = [{f: v for f, v in s.items() if f != "duration_ms"} for s in manifest["steps"]]
    return data


def test_running_json_is_the_compact_manifest_and_reencodes_only_changed_tasks() -> None:
    graph = chain(40)
    keys = list(graph.task_keys)
    manifest = RunManifest(graph, run_id="r", dagster_run_id="r", run_folder=Path("runs/r"), planned=keys)
    report = {"status": "running", "tasks": VersionedDict({}, {})}
    versions: dict[str, int] = {}

    def extra() -> dict:  # a tool's report with versioned entries (as flowrun's)
        return {"tool_report": {**report, "tasks": VersionedDict(dict(report["tasks"]), dict(versions))}}

    manifest.extra = extra
    rng = random.Random(7)
    now = datetime.now(UTC)
    for step in range(300):
        key = rng.choice(keys)
        kind = rng.randrange(6)
        if kind == 0:
            manifest.task_started(TaskStarted(key, now))
        elif kind == 1:
            manifest.task_logged(TaskLogged(key, "debug", "event", {"event": "x", "n": step}))
        elif kind == 2:
            result = TaskResult(value=step, record={"rows_out": step, "metrics": {"m": step}})
            manifest.task_succeeded(TaskSucceeded(key, result, 1, now, now, 1.5), materialized=step % 2 == 0)
        elif kind == 3:
            manifest.task_failed(TaskFailed(key, ValueError(f"e{step}"), 2, now, now, 2.0, "tb"))
        elif kind == 4:
            manifest.task_retrying(TaskRetrying(key, 2, 3, RuntimeError("again"), 0.0))
        else:
            manifest.task_skipped(TaskSkipped(key, f"r{step}"))
        report["tasks"][key] = {"status": str(step)}
        versions[key] = versions.get(key, 0) + 1
        assert manifest.running_json() == to_json(manifest.to_dict(), compact=True)
    manifest.interrupt("stopped")
    assert manifest.running_json() == to_json(manifest.to_dict(), compact=True)
    # an unchanged task reuses its text: encoding an unchanged manifest again encodes no task
    encoder = PartsEncoder()
    data = {"tasks": VersionedDict({"a": {"x": 1}}, {"a": 1})}
    assert encoder.encode(data) == '{"tasks":{"a":{"x":1}}}'
    data["tasks"]["a"]["x"] = 2  # changed without a new version: the old text (so versions must be bumped)
    assert encoder.encode(data) == '{"tasks":{"a":{"x":1}}}'
    data["tasks"].versions["a"] = 2
    assert encoder.encode(data) == '{"tasks":{"a":{"x":2}}}'


def test_write_pacer_defers_after_the_free_writes_and_never_past_the_delay() -> None:
    pacer = run_folder.WritePacer(free=2, share=0.01, max_delay=1.0)
    assert pacer.due(now=0.0) == 0.0
    pacer.wrote(0.0, 0.001)
    assert pacer.due(now=0.002) == 0.0  # still free
    pacer.wrote(0.002, 0.004)  # 2 ms: the next one 0.2 s later
    assert pacer.due(now=0.1) == pytest.approx(0.104)
    assert pacer.due(now=0.3) == 0.0
    pacer.wrote(1.0, 1.5)  # a slow write (0.5 s): deferred by at most max_delay
    assert pacer.due(now=1.5) == pytest.approx(1.0)
    pacer.urgent()
    assert pacer.due(now=1.5) == 0.0


def test_paced_runs_end_with_the_same_manifest_also_after_a_failure(tmp_path: Path, instance, monkeypatch) -> None:
    writes: list[str] = []
    original = run_folder.RunFolder.write_manifest

    def counted(self) -> None:
        writes.append(self.manifest.status)
        original(self)

    monkeypatch.setattr(run_folder.RunFolder, "write_manifest", counted)
    # every write deferred after the free ones by the longest delay (1 s): few writes, same end state
    monkeypatch.setattr(run_folder, "WRITE_SHARE", 1e-9)
    started = time.monotonic()
    result, paced = run_chain(tmp_path / "paced", instance, chain(60, fail_at=45))
    seconds = time.monotonic() - started
    assert not result.success
    running_writes = writes.count("running")
    assert running_writes <= run_folder.FREE_WRITES + seconds + 2, (running_writes, seconds)
    assert writes[-1] == "failed"
    tasks = paced["tasks"]
    assert [tasks[f"t{i:03d}"]["status"] for i in range(60)] == ["success"] * 45 + ["failed"] + ["skipped"] * 14
    assert tasks["t045"]["error"]["message"] == "task 45 broke"
    assert [s["step_id"] for s in paced["steps"]] == [f"t{i:03d}" for i in range(45)]
    # the same run with every event written at once gives the same manifest (times and ids aside)
    writes.clear()
    monkeypatch.setattr(run_folder, "FREE_WRITES", 10**9)
    _, unpaced = run_chain(tmp_path / "unpaced", instance, chain(60, fail_at=45))
    assert writes.count("running") > 60
    assert without_timing(paced) == without_timing(unpaced)
    assert sorted(paced) == sorted(unpaced) and sorted(paced["tasks"]["t000"]) == sorted(unpaced["tasks"]["t000"])


def test_run_log_lines_are_batched_in_order_with_warnings_at_once(tmp_path: Path, instance) -> None:
    result, _ = run_chain(tmp_path, instance, chain(30, fail_at=20))
    records = [r for r in instance.all_logs(result.run_id) if r.dagster_event is None]
    lines = [(r.level, line) for r in records for line in r.user_message.split("\n")]
    info = [text for level, text in lines if level == 20 and text.startswith("[t0")]
    for i in range(20):  # each task's lines, in order: its start, its own line, its end
        mine = [text for text in info if text.startswith(f"[t{i:03d}] ")]
        assert mine[:2] == [f"[t{i:03d}] started", f"[t{i:03d}] step {i} ran"], mine
        assert len(mine) == 3 and mine[2].startswith(f"[t{i:03d}] succeeded in "), mine
    assert [t for t in info if t.endswith(" started")] == [f"[t{i:03d}] started" for i in range(21)]
    # every line of the run is there once, and the batches are far fewer than the lines
    assert len(records) < len(lines) / 3
    errors = [r for r in records if r.level == 40]
    assert len(errors) == 1 and errors[0].user_message.startswith("Task 't020' failed: ValueError: task 20 broke")
    skipped = [r.user_message for r in records if r.level == 30]
    assert len(skipped) == 9 and all(m.startswith("Task 't0") and "skipped" in m for m in skipped)


def test_task_log_files_hold_every_line_in_order_each_file_created_once(tmp_path: Path, instance) -> None:
    result, _ = run_chain(tmp_path, instance, chain(30, fail_at=20))
    logs = tmp_path / "runs" / "many" / result.run_id / "logs"
    line = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "
    for i in range(20):  # written by the task's worker (its start) and the bridge (the rest), in this order
        text = (logs / f"t{i:03d}.log").read_text()
        assert re.fullmatch(
            f"{line}INFO    started\n{line}INFO    step {i} ran\n{line}INFO    succeeded in [0-9.]+ ms\n", text
        ), text
    failed = (logs / "t020.log").read_text().splitlines()
    assert (
        failed[0].endswith("INFO    started")
        and "ERROR   failed after 1 attempt(s): ValueError: task 20 broke" in (failed[1])
    )
    for i in range(21, 30):  # never started: one line, written by the bridge
        skipped = (logs / f"t{i:03d}.log").read_text().splitlines()
        assert len(skipped) == 1 and "WARNING skipped: upstream task 't020' failed" in skipped[0], skipped


def test_a_task_log_file_left_to_its_worker_gets_its_lines_in_order_whoever_writes_first(tmp_path: Path) -> None:
    manifest = RunManifest(
        TaskGraph("p", "test", Path("p.py"), tasks=()), run_id="r", dagster_run_id="r", run_folder=tmp_path
    )
    folder = run_folder.RunFolder(tmp_path, manifest)
    folder.create()
    folder.defer_open("a")
    folder.log("a", "info", "started")
    folder.log("b", "warning", "skipped: upstream")
    folder.flush_logs()
    assert not (folder.logs_dir / "a.log").exists()  # left to a's worker
    assert (folder.logs_dir / "b.log").read_text().endswith("WARNING skipped: upstream\n")
    folder.open_log("a")
    folder.log("a", "info", "succeeded")
    folder.flush_logs()
    assert [t.split(" ", 2)[2] for t in (folder.logs_dir / "a.log").read_text().splitlines()] == [
        "INFO    started",
        "INFO    succeeded",
    ]
    folder.open_log("b")  # not deferred: nothing happens
    folder.defer_open("c")  # a task whose worker never ran: its lines are written when the logs close
    folder.log("c", "info", "started")
    folder.close_logs()
    assert (folder.logs_dir / "c.log").read_text().endswith("INFO    started\n")


def test_run_log_batcher_flushes_when_due_and_when_full() -> None:
    written: list[tuple[str, str]] = []
    batcher = RunLogBatcher(lambda level, text: written.append((level, text)), interval=0.05, max_lines=3)
    batcher.line("info", "a")
    assert batcher.due() is not None and written == []
    batcher.line("info", "b")
    batcher.line("debug", "c")  # the third line fills the batch
    assert written == [("info", "a\nb"), ("debug", "c")] and batcher.due() is None
    batcher.line("info", "d")
    deadline = time.monotonic() + 30
    while batcher.flush_if_due() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert written[-1] == ("info", "d")


def killed_dag(steps: int) -> str:
    """A flowrun chain of `steps` trivial tasks, then `held`, which never ends (the test kills its process)."""
    lines = [
        "import os",
        "import time",
        "from pathlib import Path",
        "",
        "from trakt_dagster.core import run_folder",
        "from trakt_dagster.flowrun import Pipeline",
        "",
        "run_folder.WRITE_SHARE = 1e-9  # every manifest write after the free ones: deferred by the longest delay",
        'pipeline = Pipeline("paced_kill")',
        "",
        "",
        "@pipeline.task()",
        "def t00():",
        "    return 0",
    ]
    for i in range(1, steps):
        lines += ["", "", "@pipeline.task()", f"def t{i:02d}(t{i - 1:02d}):", f"    return t{i - 1:02d} + 1"]
    lines += [
        "",
        "",
        "@pipeline.task()",
        f"def held(t{steps - 1:02d}):",
        '    Path(os.environ["PACED_KILL_SIGNAL"]).write_text("started")',
        "    while True:",
        "        time.sleep(0.05)",
        "",
    ]
    return "\n".join(lines)


@pytest.mark.slow
def test_a_killed_paced_run_leaves_a_manifest_of_what_finished(tmp_path: Path) -> None:
    root = write_files(tmp_path, {"pipelines/paced_kill/dag.py": killed_dag(40)})
    signal_file = tmp_path / "held.started"
    env = {**os.environ, "PACED_KILL_SIGNAL": str(signal_file), "TRAKT_DAGSTER_RUNS_DIR": str(tmp_path / "runs")}
    env.pop("DAGSTER_HOME", None)
    cli = Path(sys.executable).parent / "trakt-dagster"
    proc = subprocess.Popen(
        [str(cli), "run", "paced_kill", "--root", str(root), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        manifest = None
        while manifest is None or manifest["tasks"]["held"]["status"] != "running":
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, f"the manifest never showed 'held' running: {manifest}"
            time.sleep(0.1)
            found = list((tmp_path / "runs").glob("paced_kill/*/manifest.json"))
            manifest = json.loads(found[0].read_text()) if found and signal_file.exists() else None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    final = json.loads(found[0].read_text())  # as the killed process left it
    assert final["status"] == "running"
    assert {k for k, s in final["tasks"].items() if s["status"] == "success"} == {f"t{i:02d}" for i in range(40)}
    assert final["tasks"]["held"]["status"] == "running"
