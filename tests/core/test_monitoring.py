"""`core.monitoring`: run worker identities, the launcher's health check, finalizing a dead run's manifest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import replace
from pathlib import Path

import dagster as dg
from dagster._core.launcher import WorkerStatus

from tests.conftest import run_trakt, write_files
from trakt_dagster.core.monitoring import WORKER_TAG, MonitoredRunLauncher, WorkerIdentity, finalize_manifest


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_worker_is_alive_only_while_its_own_process_runs() -> None:
    me = WorkerIdentity.of(os.getpid(), "r")
    assert me.alive() is True
    assert replace(me, pid=dead_pid()).alive() is False
    assert replace(me, start="1").alive() is False  # the id now belongs to another process
    assert replace(me, boot="another-boot").alive() is False  # recorded before the machine restarted
    assert replace(me, host=socket.gethostname() + "-elsewhere").alive() is None  # cannot be told from here
    assert replace(me, pidns="0").alive() is None  # another PID namespace (a container)


def health(tags: dict[str, str], run_id: str = "run-1") -> WorkerStatus:
    run = dg.DagsterRun(job_name="j", run_id=run_id, tags=tags)
    return MonitoredRunLauncher().check_run_worker_health(run).status


def test_the_launcher_reports_a_dead_worker_and_nothing_it_cannot_judge() -> None:
    alive = WorkerIdentity.of(os.getpid(), "run-1")
    assert health({WORKER_TAG: alive.to_tag()}) == WorkerStatus.RUNNING
    assert health({WORKER_TAG: replace(alive, pid=dead_pid()).to_tag()}) == WorkerStatus.FAILED
    assert health({}) == WorkerStatus.RUNNING  # not recorded yet
    # a tag copied from a parent run (re-execution, run retry) names the parent's dead worker: not this run's
    assert health({WORKER_TAG: replace(alive, pid=dead_pid(), run_id="parent").to_tag()}) == WorkerStatus.RUNNING
    assert health({WORKER_TAG: replace(alive, host="elsewhere").to_tag()}) == WorkerStatus.RUNNING
    assert MonitoredRunLauncher().supports_check_run_worker_health


def test_each_run_records_its_own_worker_replacing_a_copied_tag(tmp_path: Path, instance) -> None:
    write_files(tmp_path, {"a.csv": "id\n1\n", "pipeline.yaml": "name: w\ninputs: {src: a.csv}\noutputs: {o: src}\n"})
    copied = WorkerIdentity.of(dead_pid(), "parent-run").to_tag()
    run = run_trakt(tmp_path / "pipeline.yaml", instance, tags={WORKER_TAG: copied})
    assert run.success
    recorded = WorkerIdentity.parse(instance.get_run_by_id(run.result.run_id).tags[WORKER_TAG])
    assert (recorded.run_id, recorded.pid, recorded.alive()) == (run.result.run_id, os.getpid(), True)


def test_finalize_manifest_keeps_what_finished_and_rewrites_its_copy(tmp_path: Path) -> None:
    copy = tmp_path / "out" / "manifest.json"
    data = {
        "status": "running",
        "dagster_run_id": "r1",
        "started_at": "2026-01-01T00:00:00+00:00",
        "error": None,
        "manifest_copies": [str(copy)],
        "tasks": {"a": {"status": "success"}, "b": {"status": "running"}, "c": {"status": "pending"}},
        "pit": {"status": "running", "tasks": {"b": {"status": "running"}}},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    copy.parent.mkdir()
    copy.write_text(json.dumps(data))
    assert finalize_manifest(path, "the worker died")
    final = json.loads(path.read_text())
    assert final["status"] == "failed" and final["error"]["type"] == "RunWorkerLost"
    assert [final["tasks"][k]["status"] for k in "abc"] == ["success", "failed", "skipped"]
    assert final["tasks"]["b"]["error"] == {"type": "RunWorkerLost", "message": "the worker died", "step_id": "b"}
    assert final["pit"]["status"] == "failed" and final["pit"]["tasks"]["b"]["status"] == "failed"
    assert json.loads(copy.read_text()) == final
    assert not finalize_manifest(path, "again")  # a finished manifest is left alone
    other = {**data, "dagster_run_id": "a-later-run"}
    copy.write_text(json.dumps(other))
    path.write_text(json.dumps(data))
    assert finalize_manifest(path, "the worker died")
    assert json.loads(copy.read_text()) == other  # a later run's copy is not overwritten
