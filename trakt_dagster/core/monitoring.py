"""Let Dagster's run monitoring see a dead run worker, and give killed runs a final manifest.

Dagster's `DefaultRunLauncher` cannot tell whether a run worker still lives (its
`supports_check_run_worker_health` is False), so a run whose worker was SIGKILLed, OOM-killed or lost
with its machine stays STARTED forever unless the code server that started it notices (it does only while
it lives itself, and never for runs executed in another process, such as `trakt-dagster run`).

* Every run records its worker as a run tag `trakt/run_worker` when its first op starts: the run id, host,
  process id, the process's start time, the boot id and the PID namespace. (The run id matters: a
  re-execution or an automatic retry may copy its parent's tags, and must not be judged by the parent's
  dead worker.)
* `MonitoredRunLauncher` is the `DefaultRunLauncher` plus a health check that reads that tag: on the same
  host and PID namespace, a worker whose process is gone (or whose id now belongs to another process),
  or one recorded before the machine restarted, is reported FAILED; run monitoring then marks the run
  failed. Runs it cannot judge from where the daemon runs count as running.
* `finalize_manifest` turns a manifest a dead run left at `running` into `failed`, with what finished;
  the `trakt_dagster_run_folders` sensor applies it to every run of the code location that Dagster marked
  failed or canceled, and a re-execution applies it to its parent.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from trakt_dagster.core.atomic import atomic_write_text
from trakt_dagster.core.guard import process_start_time

WORKER_TAG = "trakt/run_worker"
LOST_WORKER = "RunWorkerLost"
SENSOR_NAME = "trakt_dagster_run_folders"


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return "-"


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


@dataclass(frozen=True)
class WorkerIdentity:
    """A run worker process: where it runs and which process it is (a process id alone may be reused).

    Example:
        >>> w = WorkerIdentity.parse("run=r1 host=h pid=42 start=1000 boot=b1 pidns=4026531836")
        >>> (w.run_id, w.host, w.pid, WorkerIdentity.parse(w.to_tag()) == w)
        ('r1', 'h', 42, True)
    """

    run_id: str
    host: str
    pid: int
    start: str
    boot: str
    pidns: str

    @classmethod
    def of(cls, pid: int, run_id: str = "") -> WorkerIdentity:
        """The identity of process `pid` of this machine (as the worker of run `run_id`)."""
        return cls(
            run_id=run_id,
            host=socket.gethostname(),
            pid=pid,
            start=process_start_time(pid),
            boot=_read("/proc/sys/kernel/random/boot_id"),
            pidns=_pid_namespace(),
        )

    def to_tag(self) -> str:
        return (
            f"run={self.run_id} host={self.host} pid={self.pid} start={self.start} boot={self.boot} pidns={self.pidns}"
        )

    @classmethod
    def parse(cls, text: str) -> WorkerIdentity:
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        return cls(
            run_id=fields.get("run", ""),
            host=fields.get("host", ""),
            pid=int(fields.get("pid", "0") or 0),
            start=fields.get("start", "-"),
            boot=fields.get("boot", "-"),
            pidns=fields.get("pidns", "-"),
        )

    def alive(self) -> bool | None:
        """Whether the worker still runs, seen from this process; None when that cannot be told from here
        (another host, another PID namespace such as a container)."""
        here = WorkerIdentity.of(os.getpid())
        if self.host != here.host or self.pid <= 0:
            return None
        if "-" not in (self.boot, here.boot) and self.boot != here.boot:
            return False  # recorded before this machine restarted
        if self.pidns != here.pidns:
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        now = process_start_time(self.pid)
        return not ("-" not in (self.start, now) and now != self.start)


def record_run_worker(context: dg.OpExecutionContext) -> None:
    """Tag the run with its worker (the process that started the run) once, from the first op that runs.

    An op running in another process than the run worker and its children (a remote step executor) does
    not record anything: from there the worker cannot be named reliably.
    """
    recorded = context.run.tags.get(WORKER_TAG)
    if recorded and WorkerIdentity.parse(recorded).run_id == context.run_id:
        return  # (a tag copied from a parent run names the parent's worker: replaced below)
    started_by = _run_start_pid(context.instance, context.run_id)
    if started_by is not None and started_by not in (os.getpid(), os.getppid()):
        return
    worker = WorkerIdentity.of(started_by or os.getpid(), context.run_id)
    context.instance.add_run_tags(context.run_id, {WORKER_TAG: worker.to_tag()})


def _run_start_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    try:
        records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    except Exception:  # noqa: BLE001 - storages without event queries: fall back to this process
        return None
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid:
            return int(event.pid)
    return None


class MonitoredRunLauncher(DefaultRunLauncher):
    """Dagster's `DefaultRunLauncher` (a local process per run) whose run workers run monitoring can check.

    Enable it with run monitoring (the daemon must run: `dagster dev` runs it):

    Example:
        ```yaml
        # dagster.yaml
        run_launcher:
          module: trakt_dagster.core.monitoring
          class: MonitoredRunLauncher
        run_monitoring:
          enabled: true
          poll_interval_seconds: 10
        ```
    """

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        tag = run.tags.get(WORKER_TAG)
        if not tag:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker recorded (yet)")
        worker = WorkerIdentity.parse(tag)
        if worker.run_id != run.run_id:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the recorded worker is an earlier run's (copied tag)")
        alive = worker.alive()
        if alive is False:
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"the run worker (process {worker.pid} on {worker.host}) is gone: it was killed or its machine "
                "restarted",
            )
        note = "running" if alive else f"cannot be checked from {socket.gethostname()}"
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker {worker.pid} on {worker.host}: {note}")


# -- manifests of runs that died ------------------------------------------------------------------
def finalize_manifest(path: Path, reason: str, *, finished_at: datetime | None = None) -> bool:
    """Rewrite a manifest still saying `running` (its run died) as `failed`: tasks that were running
    failed with `reason`, tasks not started skipped; what finished stays. Returns whether it changed.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "manifest.json"
        >>> _ = p.write_text('{"status": "running", "tasks": {"a": {"status": "success"}, "b": {"status": "running"}}}')
        >>> finalize_manifest(p, "the run worker died"), json.loads(p.read_text())["tasks"]["b"]["status"]
        (True, 'failed')
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if data.get("status") != "running":
        return False
    now = (finished_at or datetime.now(UTC)).astimezone(UTC)
    error = {"type": LOST_WORKER, "message": reason, "step_id": None}
    for key, state in (data.get("tasks") or {}).items():
        if state.get("status") == "running":
            state.update(status="failed", error={**error, "step_id": key}, finished_at=now.isoformat())
        elif state.get("status") == "pending":
            state.update(status="skipped", reason=f"not started: {reason}")
    _finalize_tool_reports(data, reason)
    data["status"] = "failed"
    data["error"] = data.get("error") or error
    data["finished_at"] = now.isoformat()
    if data.get("started_at"):
        try:
            started = datetime.fromisoformat(data["started_at"])
            data["duration_ms"] = round((now - started).total_seconds() * 1000, 3)
        except (TypeError, ValueError):
            pass
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write_text(path, text)
    for copy in data.get("manifest_copies") or ():
        copy_path = Path(copy)
        try:
            same_run = json.loads(copy_path.read_text(encoding="utf-8")).get("dagster_run_id") == data.get(
                "dagster_run_id"
            )
        except (OSError, ValueError):
            same_run = False
        if same_run:  # a later run may have written it since
            atomic_write_text(copy_path, text)
    return True


def _finalize_tool_reports(data: dict[str, Any], reason: str) -> None:
    pit = data.get("pit")
    if isinstance(pit, dict) and pit.get("status") == "running":
        pit["status"] = "failed"
        for state in (pit.get("tasks") or {}).values():
            if state.get("status") == "running":
                state.update(status="failed", error=f"{LOST_WORKER}: {reason}")
    report = data.get("flowrun_report")
    if isinstance(report, dict) and str(report.get("status", "")).upper() in ("RUNNING", "PENDING"):
        report["status"] = "FAILED"
        for state in (report.get("tasks") or {}).values():
            if isinstance(state, dict) and str(state.get("status", "")).upper() == "RUNNING":
                state.update(status="FAILED", error=f"{LOST_WORKER}: {reason}")


def finalize_run_folders(folders: Iterable[Path], reason: str) -> list[Path]:
    """`finalize_manifest` on the `manifest.json` of each run folder that has one; returns those changed."""
    return [f for f in folders if (f / "manifest.json").is_file() and finalize_manifest(f / "manifest.json", reason)]


def run_folders_sensor(pipeline_dirs: Mapping[str, Path]) -> dg.SensorDefinition:
    """The `trakt_dagster_run_folders` sensor: manifests of runs Dagster marked failed or canceled while
    they still said `running` (their worker died) get their final state. `pipeline_dirs`: Dagster pipeline
    name → `<runs_dir>/<pipeline>`.
    """

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks the run folder manifests of runs whose worker died as failed (see docs/faults.md).",
    )
    def run_folders(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        since = float(context.cursor) if context.cursor else datetime.now(UTC).timestamp() - 86400
        records = context.instance.get_run_records(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
                updated_after=datetime.fromtimestamp(since, UTC),
            ),
            order_by="update_timestamp",
            ascending=True,
            limit=200,
        )
        changed = 0
        for record in records:
            run = record.dagster_run
            reason = f"the run ended as {run.status.value} while this manifest still said running (its worker died)"
            changed += len(finalize_run_folders((base / run.run_id for base in pipeline_dirs.values()), reason))
            since = max(since, record.update_timestamp.timestamp())
        context.update_cursor(str(since))
        return dg.SkipReason(f"{changed} manifest(s) of dead runs finalized")

    return run_folders
