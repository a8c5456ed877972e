"""The task callables of pit tasks: python / bash / custom processes, sql scripts, load and save.

Every attempt runs with pit's environment and its own SDK socket (N9), with cwd = the run's snapshot
`project/`. `logs/<task>.log` gets what pit writes there (the process's raw output, the sql runner's and the
loaders' lines, pit's retry separator); the Dagster log gets every line too, with its level. A failure's
`pit_error` is pit's wording of it (`shell runner <script>: exit status 3`), shown in pit's run summary. A
timeout or termination kills the task's process group (see `pit.process`). dbt tasks are in `pit.dbt_tasks`.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.graph import TaskResult
from trakt_dagster.core.metadata import PATH_KEY, TableMetadataSet, json_list, metadata_entries
from trakt_dagster.pit.gofmt import exit_status, go_duration, go_quote, round_duration
from trakt_dagster.pit.metadata import PitRunMetadataSet
from trakt_dagster.pit.model import PitProject, PitTask, WorkspaceConfig
from trakt_dagster.pit.process import TaskProcessError, log_level, run_process
from trakt_dagster.pit.runtime import SDK_PATH, PitSession
from trakt_dagster.pit.sdk_server import NO_SECRETS, SdkServer
from trakt_dagster.pit.secrets import SecretsError
from trakt_dagster.pit.sql import execute_script, load_parquet, save_query
from trakt_dagster.pit.task_log import PitTaskLog


class SqlStubError(RuntimeError):
    """A sql task would run as a stub (no secrets or no connection) while stubs are disallowed."""


class PitTaskError(RuntimeError):
    """A task failure worded as pit words it (`pit_error`); the message may say more for the Dagster log.

    Example:
        >>> str(PitTaskError("no connection configured (set connection on task or [dag.sql])"))
        'no connection configured (set connection on task or [dag.sql])'
    """

    def __init__(self, pit_error: str, detail: str | None = None) -> None:
        super().__init__(detail or pit_error)
        self.pit_error = pit_error


def runner_prefix(task: PitTask, script: Path) -> str:
    """How pit's runners name themselves in their errors.

    Example:
        >>> runner_prefix(PitTask("b", kind="bash"), Path("/r/project/b.sh"))
        'shell runner /r/project/b.sh'
        >>> runner_prefix(PitTask("e", kind="custom", runner="$ python3 -u"), Path("/r/e.txt"))
        'custom runner "python3 -u" /r/e.txt'
    """
    if task.kind == "custom":
        return f"custom runner {go_quote((task.runner or '')[2:])} {script}"
    return {"bash": "shell", "python": "python", "sql": "sql"}.get(task.kind, task.kind) + f" runner {script}"


def elapsed_text(seconds: float) -> str:
    """A duration as pit logs it (rounded to milliseconds, Go's notation).

    Example:
        >>> elapsed_text(0.01234), elapsed_text(2.5)
        ('12ms', '2.5s')
    """
    return go_duration(round_duration(seconds, 0.001))


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
        batch = session.ftp_batch
        metadata = metadata_entries(
            PitRunMetadataSet,
            run_id=session.run_id,
            attempt=ctx.attempt,
            max_attempts=self.task.attempts,
            log=str(session.log_path(self.task.name)),
            trigger=session.trigger.get("source", "manual"),
            ftp_files=json_list(f.name for f in batch.files) if batch is not None else None,
        )
        try:
            session.compile_transform()
        except Exception as exc:  # noqa: BLE001 - pit fails the run when its models do not compile
            raise PitTaskError(f"compiling transform models: {exc}") from exc
        log = session.task_log(self.task.name)
        log.begin_attempt(ctx.attempt, self.task.attempts)
        if kind in ("python", "bash", "custom"):
            self._process(ctx, session, log)
        elif kind == "sql":
            metadata.update(self._sql(ctx, session, log))
        elif kind == "load":
            metadata.update(self._load(ctx, session, log))
        elif kind == "save":
            metadata.update(self._save(ctx, session, log))
        else:  # validation rejects every other kind
            raise RuntimeError(f"task '{self.task.name}': no runner for kind '{kind}'")
        return TaskResult(metadata=metadata, record={"pit_task": self.task.name, "attempt": ctx.attempt})

    # -- processes ---------------------------------------------------------------------------
    def _process(self, ctx: TaskContext, session: PitSession, log: PitTaskLog) -> None:
        task = self.task
        command = process_command(self.project, task, self.workspace, session.project_dir)
        script = session.project_dir / (task.script or "")
        if task.kind == "custom" and shutil.which(command[0]) is None:
            raise PitTaskError(
                f"custom runner: command {go_quote(command[0])} not found: "
                f"exec: {go_quote(command[0])}: executable file not found in $PATH"
            )
        secrets = session.secrets_store.with_task(task.name) if session.secrets_store is not None else None
        load = self._load_data if secrets is not None else None

        def output(raw: bytes) -> None:
            log.write(raw)
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            ctx.emit(log_level(text), text, {})

        with SdkServer(data_dir=session.data_dir, task_name=task.name, secrets=secrets, load_data=load) as server:
            env = session.task_env(task.name, server.address)
            if task.kind == "python" and not has_own_sdk(source_folder(self.project, self.workspace)):
                env["PYTHONPATH"] = _path_join(env.get("PYTHONPATH"), str(SDK_PATH))
            try:
                run_process(
                    task.name,
                    command,
                    cwd=session.project_dir,
                    env=env,
                    on_output=output,
                    on_notice=lambda level, text: ctx.emit(level, text, {}),
                    on_cancel=ctx.on_cancel,
                )
            except TaskProcessError as exc:
                exc.pit_error = f"{runner_prefix(task, script)}: {exit_status(exc.status)}"  # type: ignore[attr-defined]
                raise

    def _load_data(self, path: Path, url: str, table: str, schema: str | None, mode: str) -> int:
        return load_parquet(path, url, table, schema, mode, self.workspace.root)

    # -- SQL -----------------------------------------------------------------------------------
    def _connection(self, session: PitSession, name: str) -> str:
        assert session.secrets_store is not None
        return session.secrets_store.resolve(name, task=self.task.name)

    def _sql(self, ctx: TaskContext, session: PitSession, log: PitTaskLog) -> dict[str, Any]:
        task = self.task
        path = session.project_dir / (task.script or "")
        prefix = runner_prefix(task, path)
        try:
            sql = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise PitTaskError(f"sql runner reading {path}: open {path}: {(exc.strerror or str(exc)).lower()}") from exc
        name = task.connection or self.project.sql_connection  # N11: the task's own connection wins
        if session.secrets_store is None or not name:
            reason = "no secrets file" if session.secrets_store is None else "no connection ([dag.sql] or the task's)"
            if session.sql_stub == "error":
                raise SqlStubError(f"task '{task.name}': {reason}, and sql_stub = 'error' forbids running it as a stub")
            log.write_text(
                f"[sql-stub] would execute against configured connection:\n--- {path} ---\n{sql}\n--- end ---\n"
            )
            ctx.log.warning(f"[sql] stub mode ({reason}): {task.script} was not executed; its SQL follows")
            for line in sql.splitlines():
                ctx.log.info(line)
            return metadata_entries(PitRunMetadataSet, sql_stub=True)
        try:
            url = self._connection(session, name)
        except SecretsError as exc:
            raise PitTaskError(f"sql runner resolving connection {go_quote(name)}: {exc}") from exc
        try:
            outcome = execute_script(sql, url, self.workspace.root, on_cancel=ctx.on_cancel)
        except Exception as exc:
            raise PitTaskError(f"{prefix.replace(' runner ', ' runner executing ', 1)}: {exc}", str(exc)) from exc
        rows = 0 if outcome.rows_affected is None else outcome.rows_affected
        line = f"[sql] {path} executed in {elapsed_text(outcome.seconds)} ({rows} rows affected)"
        log.write_text(line + "\n")
        ctx.log.info(line)
        return metadata_entries(PitRunMetadataSet, sql_stub=False, rows_affected=outcome.rows_affected)

    def _load(self, ctx: TaskContext, session: PitSession, log: PitTaskLog) -> dict[str, Any]:
        task = self.task
        url = self._required_connection(session)
        source = _inside(session.data_dir, task.source or "", task.name)
        started = time.perf_counter()
        try:
            rows = load_parquet(source, url, task.table or "", None, task.mode or "append", self.workspace.root)
        except Exception as exc:
            raise PitTaskError(f"loading data: {exc}") from exc
        line = (
            f"[load] {task.source} -> {task.table}: {rows} rows loaded in {elapsed_text(time.perf_counter() - started)}"
        )
        log.write_text(line + "\n")
        ctx.log.info(line)
        return metadata_entries(TableMetadataSet, row_count=rows)

    def _save(self, ctx: TaskContext, session: PitSession, log: PitTaskLog) -> dict[str, Any]:
        task = self.task
        url = self._required_connection(session)
        path = session.project_dir / (task.script or "")
        try:
            sql = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PitTaskError(
                f"reading SQL script {task.script}: open {path}: {(exc.strerror or str(exc)).lower()}"
            ) from exc
        target = _inside(session.data_dir, task.output or "", task.name)
        started = time.perf_counter()
        try:
            rows = save_query(sql, url, target, self.workspace.root)
        except Exception as exc:
            raise PitTaskError(f"saving data: {exc}") from exc
        line = (
            f"[save] {task.script} -> {task.output}: {rows} rows saved in {elapsed_text(time.perf_counter() - started)}"
        )
        log.write_text(line + "\n")
        ctx.log.info(line)
        import dagster as dg

        return {PATH_KEY: dg.MetadataValue.path(str(target)), **metadata_entries(TableMetadataSet, row_count=rows)}

    def _required_connection(self, session: PitSession) -> str:
        """pit's executeSQLTask: the task's connection, else [dag.sql]'s, resolved from the secrets file."""
        name = self.task.connection or self.project.sql_connection
        if not name:
            raise PitTaskError("no connection configured (set connection on task or [dag.sql])")
        if session.secrets_store is None:
            raise PitTaskError(NO_SECRETS)
        try:
            return self._connection(session, name)
        except SecretsError as exc:
            raise PitTaskError(f"resolving connection {go_quote(name)}: {exc}") from exc


def _inside(folder: Path, name: str, task: str) -> Path:
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise PitTaskError(
            f"file path {go_quote(name)} escapes data directory",
            f"task '{task}': '{name}' is outside the run's data folder",
        )
    return path


def _path_join(existing: str | None, extra: str) -> str:
    return f"{existing}:{extra}" if existing else extra
