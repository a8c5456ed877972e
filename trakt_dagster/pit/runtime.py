"""Per-run state of a pit DAG on Dagster: run id, snapshot paths, secrets, pit's report, retention.

A run's folder is `<runs_dir>/<dag>/<dagster run id>/` with pit's layout inside (`project/` snapshot,
`logs/<task>.log`, `data/`); `PIT_RUN_ID` keeps pit's format `YYYYMMDD_HHMMSS.mmm_<dag>`. When the run
ends, the sub-folders not in `keep_artifacts` are removed (also after a failure or termination).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from trakt_dagster.core.context import RunInfo
from trakt_dagster.core.events import (
    RunFinished,
    TaskFailed,
    TaskLogged,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from trakt_dagster.core.paths import path_inside
from trakt_dagster.core.redact import Redactor
from trakt_dagster.core.run_folder import log_file_name
from trakt_dagster.core.runner import RunTimeoutError, TaskTimeoutError
from trakt_dagster.core.session import PipelineSession, SessionRequest, states_from_ops
from trakt_dagster.pit.model import PitProject, WorkspaceConfig, kept_artifacts
from trakt_dagster.pit.secrets import AuditRecord, ProjectSecrets, SecretsError, load_secrets
from trakt_dagster.pit.task_log import PitTaskLog

SECRETS_RESOURCE_KEY = "pit_secrets"
SECRETS_ENV = "PIT_SECRETS_FILE"
REPORT_KEY = "pit"
DBT_HELPER_SUFFIX = "::dbt"
SDK_PATH = Path(__file__).resolve().parent / "sdk"
"""Folder holding the compatible `pit_sdk` package (put on task processes' PYTHONPATH)."""


class PitSecrets(dg.ConfigurableResource):
    """Where pit tasks' secrets come from: `path` (run config), else `$PIT_SECRETS_FILE`, else the workspace's
    `pit_config.toml` `secrets_dir`. A `.age` file is decrypted with `$PIT_AGE_KEY`, `$PIT_AGE_KEY_FILE`,
    `age_identity` or `~/.config/pit/age-key.txt`.

    Example:
        ```yaml
        resources:
          pit_secrets:
            config:
              path: /etc/pit/secrets.toml
        ```
    """

    path: str = Field(
        default="", description="Secrets TOML (.toml or .toml.age); empty: $PIT_SECRETS_FILE or pit_config.toml."
    )
    age_identity: str = Field(default="", description="age identity file for .age secrets (optional).")
    workspace_secrets: str = Field(default="", description="The workspace's secrets_dir (set by trakt-dagster).")

    def secrets_file(self) -> Path | None:
        """The secrets file to use, or None when there is none."""
        chosen = self.path or os.environ.get(SECRETS_ENV, "") or self.workspace_secrets
        return Path(chosen) if chosen else None


class PitRunConfig(dg.Config):
    """Run config of a pit DAG (launchpad); every field is optional.

    Example:
        ```yaml
        ops:
          sales_pipeline:
            config:
              sql_stub: error
        ```
    """

    sql_stub: str = Field(
        default="allow",
        description="'allow': sql tasks without secrets or connection log their SQL and succeed (pit); "
        "'error': they fail.",
    )


def pit_run_id(dag: str, at: datetime | None = None) -> str:
    """pit's run id: local time `YYYYMMDD_HHMMSS.mmm_<dag>`.

    Example:
        >>> pit_run_id("sales", datetime(2026, 3, 17, 6, 0, 1, 250000))
        '20260317_060001.250_sales'
    """
    at = at or datetime.now()
    return f"{at:%Y%m%d_%H%M%S}.{at.microsecond // 1000:03d}_{dag}"


def pit_status(core_status: str, skipped_by_upstream: bool) -> str:
    """A task's status as pit reports it.

    Example:
        >>> pit_status("skipped", True), pit_status("success", False)
        ('upstream_failed', 'success')
    """
    if core_status == "skipped":
        return "upstream_failed" if skipped_by_upstream else "skipped"
    return {"pending": "pending", "running": "running", "success": "success"}.get(core_status, "failed")


@dataclass
class PitSession(PipelineSession):
    """What the tasks of one pit run share."""

    project: PitProject | None = None
    workspace: WorkspaceConfig | None = None
    run_info: RunInfo | None = None
    secrets_store: ProjectSecrets | None = None
    sql_stub: str = "allow"
    single_task: bool = False
    planned: frozenset[str] = frozenset()
    """Keys of the graph tasks this run executes."""
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outputs_recorded: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    trigger: dict[str, Any] = field(default_factory=dict)
    """What started the run (`source`: manual, schedule, interval, ftp_watch, webhook; FTP files; event id)."""
    ftp_batch: Any = None
    """The files an FTP-triggered run downloaded (`pit.ftp_watch.FtpBatch`), archived on success."""
    stream: Any = None
    """The live log of a `?stream=true` webhook run (`pit.webhook_stream.StreamWriter`)."""
    log: Any = None
    """`log(level, message)` to the Dagster run log."""
    started_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    finished_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: dict[str, float] = field(default_factory=dict)
    _attempt: dict[str, int] = field(default_factory=dict)
    _logs: dict[str, PitTaskLog] = field(default_factory=dict)
    _redactor: Redactor | None = None
    _compile_lock: threading.Lock = field(default_factory=threading.Lock)
    _compiled: Any = None

    @property
    def run(self) -> RunInfo:
        assert self.run_info is not None, "a pit session belongs to a run"
        return self.run_info

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def project_dir(self) -> Path:
        """The run's snapshot of the project: every task's cwd."""
        return self.run.project_dir

    @property
    def data_dir(self) -> Path:
        return self.run.data_dir

    @property
    def logs_dir(self) -> Path:
        return self.run.logs_dir

    def log_path(self, task_name: str) -> Path:
        """`logs/<task>.log` of this run, named as the run folder writes it."""
        return self.logs_dir / log_file_name(task_name)

    def compile_transform(self) -> Any:
        """A transform project's models compiled into the snapshot's `compiled_models/` (once per run, as pit
        does when a run starts); None for other projects. Raises `pit.transform.TransformError`."""
        project = self.project
        if project is None or not project.transform:
            return None
        from trakt_dagster.pit.transform import COMPILED_DIR, compile_models

        with self._compile_lock:
            if self._compiled is None:
                explicit = {task.name: task.depends_on for task in project.tasks}
                result = compile_models(self.project_dir, project.transform_dialect, explicit)
                result.write(self.project_dir / COMPILED_DIR)
                self._compiled = result
            return self._compiled

    def task_log(self, task_name: str) -> PitTaskLog:
        """The task's log file in pit's format (one per task and run, shared by its attempts)."""
        with self._lock:
            log = self._logs.get(task_name)
            if log is None:
                if self._redactor is None:
                    self._redactor = Redactor(self.secrets)
                log = self._logs[task_name] = PitTaskLog(self.log_path(task_name), task_name, self._redactor)
            return log

    def task_env(self, task_name: str, socket: str) -> dict[str, str]:
        """pit's task environment: the parent's plus PIT_RUN_ID, PIT_TASK_NAME, PIT_DAG_NAME, PIT_SOCKET and
        PIT_DATA_DIR."""
        assert self.project is not None
        env = dict(os.environ)
        env.update(
            PIT_RUN_ID=self.run_id,
            PIT_TASK_NAME=task_name,
            PIT_DAG_NAME=self.project.name,
            PIT_SOCKET=socket,
            PIT_DATA_DIR=str(self.data_dir.resolve()),
        )
        if self.workspace is not None:  # trakt-dagster's addition: where relative database paths resolve
            env["PIT_WORKSPACE_ROOT"] = str(self.workspace.root)
        return env

    def record_access(self, record: AuditRecord) -> None:
        """The secret audit (N16: with the task name); keys only, never values."""
        with self._lock:
            self.audit.append(
                {"key": record.key, "field": record.field, "task": record.task, "found": record.found, "at": record.at}
            )

    def on_event(self, event: Any) -> None:
        if isinstance(event, TaskLogged | TaskRetrying | TaskStarted):
            self._stream_event(event)
            if isinstance(event, TaskLogged):
                return
        if isinstance(event, RunFinished):
            self.status = "success" if event.success else "failed"
            return
        key = getattr(event, "key", "")
        helper = key.endswith(DBT_HELPER_SUFFIX)  # a dbt task's run of dbt counts as the pit task's
        name = key[: -len(DBT_HELPER_SUFFIX)] if helper else key
        if "::" in name:
            return  # a dbt node, not a pit task
        with self._lock:
            state = self.tasks.setdefault(name, {})
            if isinstance(event, TaskStarted):
                state.update(status="running", started_at=event.started_at.isoformat())
            elif isinstance(event, TaskSucceeded | TaskFailed):
                state["finished_at"] = event.finished_at.isoformat()
                if "started_at" in state:
                    started = datetime.fromisoformat(state["started_at"])
                    state["duration_ms"] = round((event.finished_at - started).total_seconds() * 1000, 3)
                if helper or "attempts" not in state:
                    state["attempts"] = event.attempts
                if isinstance(event, TaskFailed):
                    state.update(status="failed", error=self.pit_error(name, event.error))
                    if state["error"] != str(event.error):
                        state["detail"] = f"{type(event.error).__name__}: {event.error}"
                elif not helper:
                    state["status"] = "success"
            elif isinstance(event, TaskSkipped) and state.get("status") != "failed":
                state.update(status=pit_status("skipped", event.upstream is not None), reason=event.reason)

    def pit_error(self, name: str, error: BaseException) -> str:
        """A task's failure in pit's words (its runner's `pit_error`, or how pit words a timeout)."""
        text = getattr(error, "pit_error", None)
        if text:
            return str(text)
        if isinstance(error, RunTimeoutError):
            return "context deadline exceeded"  # pit's DAG deadline is a Go context deadline
        task = self.project.by_name.get(name) if self.project is not None else None
        if isinstance(error, TaskTimeoutError) and task is not None and task.script:
            from trakt_dagster.pit.tasks import runner_prefix

            prefix = runner_prefix(task, self.project_dir / task.script)
            return f"{prefix}: signal: killed" if task.kind != "sql" else f"{prefix}: context deadline exceeded"
        return str(error) or type(error).__name__

    def _stream_event(self, event: Any) -> None:
        """Keep each task's start and attempt; write its lines to the live log of a streamed webhook run."""
        name = event.key[: -len(DBT_HELPER_SUFFIX)] if event.key.endswith(DBT_HELPER_SUFFIX) else event.key
        if isinstance(event, TaskStarted):
            self._started[name] = time.monotonic()
            self._attempt[name] = 1
            return
        if isinstance(event, TaskRetrying):
            self._attempt[name] = event.attempt
        if self.stream is None:
            return
        attempt = self._attempt.get(name, 1)
        if isinstance(event, TaskRetrying):
            text = f"--- retry attempt {event.attempt}/{event.max_attempts} ---"
            self.stream.entry(name, "info", text, attempt=attempt, started=self._started.get(name))
        else:
            self.stream.entry(name, event.level, event.message, attempt=attempt, started=self._started.get(name))

    def manifest_extra(self) -> dict[str, Any]:
        project = self.project
        if project is None:
            return {}
        with self._lock:
            tasks = {}
            for task in project.tasks:
                state = dict(self.tasks.get(task.name) or {"status": "skipped" if self.single_task else "pending"})
                state["max_attempts"] = task.attempts
                state["log"] = str(self.log_path(task.name))
                tasks[task.name] = state
            finished = self.finished_at
            return {
                REPORT_KEY: {
                    "run_id": self.run_id,
                    "dag_name": project.name,
                    "status": self.status,
                    "started_at": self.started_at.isoformat(),
                    "finished_at": finished.isoformat() if finished else None,
                    "duration_ms": (
                        round((finished - self.started_at).total_seconds() * 1000, 3) if finished else None
                    ),
                    "snapshot": str(self.run_dir),
                    "data_dir": str(self.data_dir),
                    "tasks": tasks,
                    "task_order": [task.name for task in project.tasks],
                    "trigger": self._trigger_report(),
                    "outputs": list(self.outputs_recorded),
                    "secret_audit": list(self.audit),
                    "keep_artifacts": list(kept_artifacts(project, self.workspace or WorkspaceConfig(project.folder))),
                }
            }

    def merge_manifest_extra(self, extras: list[dict[str, Any]]) -> dict[str, Any]:
        """Step granularity: one pit report for the run from every op's (each task's state from the op that
        ran it; outputs and the secrets audit of every op)."""
        own = self.manifest_extra()
        reports = [e[REPORT_KEY] for e in extras if REPORT_KEY in e]
        if REPORT_KEY not in own or not reports:
            return own
        merged = dict(own[REPORT_KEY])
        tasks = states_from_ops(merged["tasks"], [r["tasks"] for r in reports], pending="pending")
        statuses = {state["status"] for state in tasks.values()}
        merged["tasks"] = tasks
        merged["status"] = "failed" if "failed" in statuses else "success" if statuses == {"success"} else "running"
        merged["outputs"] = [o for r in reports for o in r.get("outputs", [])]
        merged["secret_audit"] = [a for r in reports for a in r.get("secret_audit", [])]
        return {**own, REPORT_KEY: merged}

    def _trigger_report(self) -> dict[str, Any]:
        report = dict(self.trigger)
        if self.ftp_batch is not None:
            report.update(self.ftp_batch.report())
        return report

    def close(self, success: bool) -> None:
        """Record `[[outputs]]` (on success only, as pit), archive an FTP batch (on success) and end a live log.
        The sub-folders `keep_artifacts` does not keep are removed by the core's retention right after
        (`TaskGraph.retention`, see `pit.translate`)."""
        project = self.project
        if project is None:
            return
        self.finished_at = datetime.now().astimezone()
        with self._lock:
            for log in self._logs.values():
                log.close()
        if self.ftp_batch is not None and success and self.status == "success" and not self.single_task:
            from trakt_dagster.pit.ftp_watch import archive_batch

            archive_batch(self.ftp_batch, self.secrets_store, self.log or (lambda level, message: None))
        if self.stream is not None:
            self.stream.complete("success" if success and self.status == "success" else "failed")
        if success and self.status == "success" and not self.single_task:
            now = time.time()
            self.outputs_recorded[:] = [{**o.record(), "at": now} for o in project.outputs]


def sync_git_source(project: PitProject, cache: Path, log: Any) -> Path:
    """pit's git-backed projects: clone into `<repo_cache>/<dag>` (or fetch), check out `git_ref`, then a
    best-effort `git reset --hard origin/<ref>`. Returns the folder holding the project's source."""
    target = path_inside(cache, project.name)  # validated at load; never let a name reach the workspace
    cache.mkdir(parents=True, exist_ok=True)

    def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
        if check and done.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed for {project.name}: {done.stderr.strip() or done.stdout.strip()}")
        return done

    if (target / ".git").is_dir():
        git("fetch", "origin", cwd=target)
    else:
        git("clone", project.git_url, str(target))
    git("checkout", project.git_ref, cwd=target)
    if git("reset", "--hard", f"origin/{project.git_ref}", cwd=target, check=False).returncode != 0:
        log("info", f"git reset --hard origin/{project.git_ref} skipped (not a branch)")
    return target


def secrets_resource(resource: PitSecrets | None, workspace: WorkspaceConfig) -> PitSecrets:
    """The run's `pit_secrets` resource, else one for the workspace's `secrets_dir`."""
    return resource if resource is not None else PitSecrets(workspace_secrets=str(workspace.secrets_path or ""))


def secret_files(resource: PitSecrets | None, workspace: WorkspaceConfig) -> list[Path]:
    """The secrets file and age key files a run may read: never copied into a run's snapshot.

    Example:
        >>> resource = PitSecrets(path="/etc/pit/s.toml", age_identity="/etc/pit/key.txt")
        >>> secret_files(resource, WorkspaceConfig(Path("/w")))
        [PosixPath('/etc/pit/s.toml'), PosixPath('/etc/pit/key.txt')]
    """
    resource = secrets_resource(resource, workspace)
    candidates = [resource.secrets_file(), resource.age_identity or workspace.age_identity]
    candidates.append(os.environ.get("PIT_AGE_KEY_FILE"))
    found: list[Path] = []
    for item in candidates:
        if item:
            path = Path(item).expanduser()
            path = path if path.is_absolute() else workspace.root / path
            if path not in found:
                found.append(path)
    return found


def load_project_secrets(
    resource: PitSecrets | None, project: PitProject, workspace: WorkspaceConfig
) -> ProjectSecrets | None:
    """The project's view of the secrets file, or None when there is no secrets file."""
    resource = secrets_resource(resource, workspace)
    path = resource.secrets_file()
    if path is None:
        return None
    identity = resource.age_identity or workspace.age_identity
    try:
        return load_secrets(path, age_identity=identity).for_project(project.name)
    except OSError as exc:
        raise SecretsError(f"cannot read the secrets file {path}: {exc.strerror or exc}") from None


def start_trigger(session: PitSession, request: SessionRequest) -> None:
    """Take the run's trigger from its tags: fetch an FTP batch into `data/`, open a webhook run's live log."""
    from trakt_dagster.core.redact import Redactor
    from trakt_dagster.pit.ftp_watch import batch_names, download_batch
    from trakt_dagster.pit.webhook_stream import STREAM_TAG, StreamWriter

    project = session.project
    assert project is not None
    tags = dict(request.run.tags)
    session.log = request.log
    session.trigger = {"source": tags.get("trakt/trigger", "manual")}
    if tags.get("trakt/webhook_event"):
        session.trigger["event_id"] = tags["trakt/webhook_event"]
    names = batch_names(tags)
    if names is not None and project.ftp_watch is not None:
        session.data_dir.mkdir(parents=True, exist_ok=True)
        secrets = session.secrets_store
        session.ftp_batch = download_batch(project.ftp_watch, secrets, names, session.data_dir, request.log)
    if tags.get(STREAM_TAG):
        session.stream = StreamWriter.open(
            Path(tags[STREAM_TAG]), run_id=session.run_id, dag=project.name, redactor=Redactor(session.secrets)
        )


def carry_parent_data(data_dir: Path, parent_data: Path) -> None:
    """Step granularity, re-execution: the files the parent run's tasks wrote to `data/` (what the tasks
    that are not run again left for the ones that are), copied into this run's `data/` unless present."""
    if not parent_data.is_dir():
        return
    for source in parent_data.rglob("*"):
        target = data_dir / source.relative_to(parent_data)
        if source.is_dir() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.copy")
        shutil.copy2(source, staging)
        os.replace(staging, target)


def make_session_factory(project: PitProject, workspace: WorkspaceConfig):  # noqa: ANN201 - the factory closure
    """The `session_factory` of a pit graph."""

    def factory(request: SessionRequest) -> PitSession:
        config: PitRunConfig = request.config or PitRunConfig()
        if config.sql_stub not in ("allow", "error"):
            raise ValueError(f"sql_stub must be 'allow' or 'error', not {config.sql_stub!r}")
        resource = getattr(request.resources, SECRETS_RESOURCE_KEY, None) if request.resources else None
        secrets = load_project_secrets(resource, project, workspace)
        names = {t.name for t in project.tasks}
        selected_tasks = {key for key in (request.run_plan or request.selected) if key in names}
        session = PitSession(
            run_id=pit_run_id(project.name, request.run.started_at.astimezone()),
            started_at=request.run.started_at.astimezone(),
            project=project,
            workspace=workspace,
            run_info=request.run,
            secrets_store=secrets,
            sql_stub=config.sql_stub,
            single_task=selected_tasks != names and bool(selected_tasks),
            planned=frozenset(request.selected),
        )
        if secrets is not None:
            session.secrets_store = secrets.with_audit(session.record_access)
            session.secrets.extend(secrets.values())
        if session.single_task:
            skipped = sorted(
                {dep for name in selected_tasks for dep in project.by_name[name].depends_on} - selected_tasks
            )
            if skipped:
                request.log(
                    "warning",
                    f"single-task run of {', '.join(sorted(selected_tasks))}: "
                    f"dependencies not run: {', '.join(skipped)}",
                )
        if request.run.granularity == "step" and request.run.parent_run_id:
            carry_parent_data(session.data_dir, request.run.run_dir.parent / request.run.parent_run_id / "data")
        session.snapshot_exclude.extend([project.folder / "runs", *secret_files(resource, workspace)])
        if project.is_git:
            sync_git_source(project, workspace.repo_cache, request.log)
        start_trigger(session, request)
        return session

    return factory
