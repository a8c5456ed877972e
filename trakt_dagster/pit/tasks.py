"""The task callables of pit tasks: python / bash / custom processes, sql scripts, load and save.

Every attempt runs with pit's environment and its own SDK socket (N9), with cwd = the run's snapshot
`project/`; output lines go to `logs/<task>.log` and the Dagster log. A timeout or termination kills the
task's process group (see `pit.process`). dbt tasks are in `pit.dbt_tasks`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.graph import TaskResult
from trakt_dagster.pit.model import PitProject, PitTask, WorkspaceConfig
from trakt_dagster.pit.process import run_process
from trakt_dagster.pit.runtime import SDK_PATH, PitSession
from trakt_dagster.pit.sdk_server import SdkServer
from trakt_dagster.pit.sql import execute_script, load_parquet, save_query


class SqlStubError(RuntimeError):
    """A sql task would run as a stub (no secrets or no connection) while stubs are disallowed."""


def uv_executable() -> str:
    """The `uv` of this environment (a pinned dependency), else the one on PATH."""
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv") or "uv"


def source_folder(project: PitProject, workspace: WorkspaceConfig) -> Path:
    """Where the project's own source (and virtualenv) lives: the project folder, or the repo cache."""
    return workspace.repo_cache / project.name if project.is_git else project.folder


def has_own_sdk(source: Path) -> bool:
    """Whether the project brings its own `pit_sdk` (a package in the folder or a pyproject dependency)."""
    if (source / "pit_sdk").is_dir() or (source / "pit_sdk.py").is_file():
        return True
    pyproject = source / "pyproject.toml"
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8", errors="replace").lower()
        return "pit-sdk" in text or "pit_sdk" in text
    return False


def process_command(project: PitProject, task: PitTask, workspace: WorkspaceConfig, snapshot: Path) -> list[str]:
    """The command pit runs for a python, bash or custom task (script from the run's snapshot).

    Example:
        >>> t = PitTask("b", kind="bash", script="b.sh")
        >>> process_command(PitProject("p", Path("/p"), Path("/p/pit.toml")), t, WorkspaceConfig(Path("/")), Path("/s"))
        ['bash', '/s/b.sh']
    """
    script = str(snapshot / (task.script or ""))
    if task.kind == "bash":
        return ["bash", script]
    if task.kind == "custom":
        return [*task.command, script]
    source = source_folder(project, workspace)
    if (source / "pyproject.toml").is_file():
        return [uv_executable(), "run", "--project", str(source), script]
    return [sys.executable, script]


class RunPitTask:
    """`run(ctx, upstream)` of one pit task.

    Example:
        >>> # Task("extract", run=RunPitTask(project, task, workspace), deps=task.depends_on)
    """

    def __init__(self, project: PitProject, task: PitTask, workspace: WorkspaceConfig) -> None:
        self.project = project
        self.task = task
        self.workspace = workspace

    def __call__(self, ctx: TaskContext, upstream: Any) -> TaskResult:
        session: PitSession = ctx.session
        kind = self.task.kind
        metadata: dict[str, Any] = {
            "pit/run_id": session.run_id,
            "pit/attempt": ctx.attempt,
            "pit/log": str(session.log_path(self.task.name)),
            "pit/trigger": session.trigger.get("source", "manual"),
        }
        if session.ftp_batch is not None:
            metadata["pit/ftp_files"] = [f.name for f in session.ftp_batch.files]
        if kind in ("python", "bash", "custom"):
            self._process(ctx, session)
        elif kind == "sql":
            metadata.update(self._sql(ctx, session))
        elif kind == "load":
            metadata.update(self._load(ctx, session))
        elif kind == "save":
            metadata.update(self._save(ctx, session))
        else:  # validation rejects every other kind
            raise RuntimeError(f"task '{self.task.name}': no runner for kind '{kind}'")
        return TaskResult(metadata=metadata, record={"pit_task": self.task.name, "attempt": ctx.attempt})

    # -- processes ---------------------------------------------------------------------------
    def _process(self, ctx: TaskContext, session: PitSession) -> None:
        task = self.task
        command = process_command(self.project, task, self.workspace, session.project_dir)
        secrets = session.secrets_store.with_task(task.name) if session.secrets_store is not None else None
        load = self._load_data if secrets is not None else None
        with SdkServer(data_dir=session.data_dir, task_name=task.name, secrets=secrets, load_data=load) as server:
            env = session.task_env(task.name, server.address)
            if task.kind == "python" and not has_own_sdk(source_folder(self.project, self.workspace)):
                env["PYTHONPATH"] = _path_join(env.get("PYTHONPATH"), str(SDK_PATH))
            run_process(
                task.name,
                command,
                cwd=session.project_dir,
                env=env,
                on_line=lambda level, text: ctx.emit(level, text, {}),
                on_cancel=ctx.on_cancel,
            )

    def _load_data(self, path: Path, url: str, table: str, schema: str | None, mode: str) -> int:
        return load_parquet(path, url, table, schema, mode, self.workspace.root)

    # -- SQL -----------------------------------------------------------------------------------
    def _connection(self, session: PitSession, name: str) -> str:
        assert session.secrets_store is not None
        return session.secrets_store.resolve(name, task=self.task.name)

    def _sql(self, ctx: TaskContext, session: PitSession) -> dict[str, Any]:
        task = self.task
        path = session.project_dir / (task.script or "")
        sql = path.read_text(encoding="utf-8")
        name = task.connection or self.project.sql_connection  # N11: the task's own connection wins
        if session.secrets_store is None or not name:
            reason = "no secrets file" if session.secrets_store is None else "no connection ([dag.sql] or the task's)"
            if session.sql_stub == "error":
                raise SqlStubError(f"task '{task.name}': {reason}, and sql_stub = 'error' forbids running it as a stub")
            ctx.log.warning(f"[sql] stub mode ({reason}): {task.script} was not executed; its SQL follows")
            for line in sql.splitlines():
                ctx.log.info(line)
            return {"pit/sql_stub": True}
        outcome = execute_script(sql, self._connection(session, name), self.workspace.root, on_cancel=ctx.on_cancel)
        rows = "?" if outcome.rows_affected is None else outcome.rows_affected
        ctx.log.info(f"[sql] {task.script} executed in {outcome.seconds:.3f}s ({rows} rows affected)")
        return {"pit/sql_stub": False, "pit/rows_affected": outcome.rows_affected}

    def _load(self, ctx: TaskContext, session: PitSession) -> dict[str, Any]:
        task = self.task
        source = _inside(session.data_dir, task.source or "", task.name)
        url = self._required_connection(session)
        rows = load_parquet(source, url, task.table or "", None, task.mode or "append", self.workspace.root)
        ctx.log.info(f"[load] {task.source} -> {task.table} ({task.mode or 'append'}): {rows} rows loaded")
        return {"pit/table": task.table, "dagster/row_count": rows}

    def _save(self, ctx: TaskContext, session: PitSession) -> dict[str, Any]:
        task = self.task
        sql = (session.project_dir / (task.script or "")).read_text(encoding="utf-8")
        target = _inside(session.data_dir, task.output or "", task.name)
        rows = save_query(sql, self._required_connection(session), target, self.workspace.root)
        ctx.log.info(f"[save] {task.script} -> data/{task.output}: {rows} rows")
        return {"pit/output": str(target), "dagster/row_count": rows}

    def _required_connection(self, session: PitSession) -> str:
        task = self.task
        name = task.connection or self.project.sql_connection
        if not name:
            raise RuntimeError(f"task '{task.name}': {task.kind} tasks need connection = \"<secret name>\"")
        if session.secrets_store is None:
            raise RuntimeError(f"task '{task.name}': {task.kind} tasks need a secrets file holding '{name}'")
        return self._connection(session, name)


def _inside(folder: Path, name: str, task: str) -> Path:
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise RuntimeError(f"task '{task}': '{name}' is outside the run's data folder")
    return path


def _path_join(existing: str | None, extra: str) -> str:
    return f"{existing}:{extra}" if existing else extra
