"""A pit workspace and its projects as plain, immutable data (what `pit.toml` and `pit_config.toml` say).

Durations are already seconds (None = no limit), schedules are kept as written (see `pit.schedule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNER_KINDS = ("python", "bash", "sql", "dbt")
LOAD_MODES = ("append", "truncate_and_load", "create_or_replace")
ARTIFACT_FOLDERS = ("logs", "project", "data")
OVERLAPS = ("", "skip", "wait", "allow")


@dataclass(frozen=True)
class PitTask:
    """One `[[tasks]]` entry.

    `kind` is what runs it: `python`, `bash`, `sql`, `dbt`, `custom` (a `"$ cmd args"` runner, whose words
    are `command`), `load` or `save`.

    Example:
        >>> PitTask("extract", kind="python", script="tasks/extract.py").attempts
        1
    """

    name: str
    kind: str
    script: str | None = None
    runner: str | None = None
    command: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 0.0
    type: str = ""
    source: str | None = None
    output: str | None = None
    table: str | None = None
    mode: str | None = None
    connection: str | None = None
    description: str = ""
    """`description` (a trakt-dagster addition pit ignores): the asset's description."""
    line: int | None = None
    index: int = 0
    """Position in the file's `[[tasks]]` list."""
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    """The line of each key of the entry (for error locations)."""
    model: Any = field(default=None, compare=False, hash=False)
    """For a transform model's task: the compiled model (`pit.transform.Model`)."""

    @property
    def attempts(self) -> int:
        """pit: `retries + 1` attempts, except `load`/`save` tasks, which run once."""
        return 1 if self.kind in ("load", "save") else self.retries + 1


@dataclass(frozen=True)
class PitOutput:
    """One `[[outputs]]` entry (metadata recorded when a run of the DAG succeeds), every field as written.

    `recipients` is a string in pit (`"a@b, c@d"` stays that string); an array of strings is accepted too
    (N13) and kept as that list.

    Example:
        >>> PitOutput("daily report", type="email", recipients="ops@example.com").record()["recipients"]
        'ops@example.com'
    """

    name: str
    type: str = ""
    location: str = ""
    recipients: str | tuple[str, ...] = ""
    line: int | None = None

    def record(self) -> dict[str, Any]:
        """The output's fields as pit keeps them (`name`, `type`, `location`, `recipients`)."""
        recipients = self.recipients if isinstance(self.recipients, str) else list(self.recipients)
        return {"name": self.name, "type": self.type, "location": self.location, "recipients": recipients}


@dataclass(frozen=True)
class DbtSettings:
    """`[dag.dbt]`.

    Example:
        >>> DbtSettings(version="1.11.0", adapter="dbt-duckdb", project_dir="dbt").target
        'prod'
    """

    version: str = ""
    adapter: str = ""
    extra_deps: tuple[str, ...] = ()
    project_dir: str = ""
    profile: str = ""
    target: str = "prod"
    threads: str = ""
    connection: str = ""


@dataclass(frozen=True)
class FtpWatchSettings:
    """`[dag.ftp_watch]` with pit's defaults filled in (the watcher itself is a sensor, see docs/pit.md).

    Example:
        >>> FtpWatchSettings(secret="ftp", directory="/in", pattern="*.csv").port
        21
    """

    secret: str = ""
    host: str = ""
    user: str = ""
    password_secret: str = ""
    port: int = 21
    tls: bool = False
    directory: str = ""
    pattern: str = ""
    archive_dir: str = ""
    poll_interval: float = 30.0
    stable_seconds: int = 30


@dataclass(frozen=True)
class PitProject:
    """One `projects/<folder>/pit.toml`: its DAG settings, tasks and outputs.

    Example:
        >>> p = PitProject("sales", Path("projects/sales"), Path("projects/sales/pit.toml"))
        >>> p.overlap_policy, p.is_git
        ('allow', False)
    """

    name: str
    folder: Path
    pit_toml: Path
    schedule: str = ""
    overlap: str = ""
    timeout: float | None = None
    requires: tuple[str, ...] = ()
    keep_artifacts: tuple[str, ...] = ()
    git_url: str = ""
    git_ref: str = ""
    sql_connection: str = ""
    transform: bool = False
    """Whether `[dag.transform]` is present (pit's SQL transform engine)."""
    transform_dialect: str = ""
    transform_models: Any = field(default=None, compare=False, repr=False)
    """The compiled transform models (`pit.transform.CompileResult`) once validation compiled them."""
    ftp_watch: FtpWatchSettings | None = None
    webhook_token_secret: str | None = None
    dbt: DbtSettings | None = None
    tasks: tuple[PitTask, ...] = ()
    outputs: tuple[PitOutput, ...] = ()
    max_parallel: int | None = None
    """`[dag.dagster] max_parallel`: tasks of one run at a time (pit has no limit; default: all)."""
    pool: str | None = None
    """`[dag.dagster] pool`: the Dagster concurrency pool of the DAG's op."""
    keep_runs: int | None = None
    """`[dag.dagster] keep_runs`: the newest finished run folders kept (default: the root's retention)."""
    keep_days: float | None = None
    """`[dag.dagster] keep_days`: finished run folders older than this are removed (default: the root's)."""
    description: str = ""
    """`[dag] description` (a trakt-dagster addition pit ignores): the job's description."""
    granularity: str | None = None
    """`[dag.dagster] granularity`: `pipeline` (default: one op per DAG) or `step` (one op per task, the task's
    retries as Dagster retries)."""
    name_line: int | None = None
    file_comment: str | None = field(default=None, compare=False, repr=False)
    """The comment `pit.toml` starts with (`""`: none), read with the file; None: not read (the file is read
    again when it is needed)."""
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    """Line of every DAG-level key and table as written (`dag.overlap`, `dag.ftp_watch.pattern`,
    `dag.ftp_watch`)."""

    def line_of(self, key: str) -> int | None:
        """The line of a DAG-level key (`dag.schedule`), else of its table, else of `[dag]` / `name`.

        Example:
            >>> PitProject("p", Path("p"), Path("p/pit.toml"), name_line=2, key_lines={"dag.overlap": 4}).line_of(
            ...     "dag.overlap")
            4
        """
        while key:
            if key in self.key_lines:
                return self.key_lines[key]
            key = key.rpartition(".")[0]
        return self.name_line

    @property
    def overlap_policy(self) -> str:
        """`allow`, `skip` or `wait` (pit's empty default is `allow`)."""
        return self.overlap or "allow"

    @property
    def is_git(self) -> bool:
        return bool(self.git_url)

    @property
    def by_name(self) -> dict[str, PitTask]:
        return {task.name: task for task in self.tasks}


@dataclass(frozen=True)
class WorkspaceConfig:
    """`pit_config.toml` at the workspace root (every field optional).

    Example:
        >>> WorkspaceConfig(Path(".")).dbt_driver
        'ODBC Driver 17 for SQL Server'
    """

    root: Path
    path: Path | None = None
    secrets_path: Path | None = None
    age_identity: str | None = None
    repo_cache_dir: Path | None = None
    dbt_driver: str = "ODBC Driver 17 for SQL Server"
    keep_artifacts: tuple[str, ...] | None = None
    """None when unset; `()` when set to an empty list (then nothing is removed, as pit)."""

    @property
    def repo_cache(self) -> Path:
        return self.repo_cache_dir or self.root / "repo_cache"


def artifact_rule(project: PitProject, workspace: WorkspaceConfig) -> tuple[str, ...] | None:
    """The sub-folders pit's own settings keep (`kept_artifacts`), or None when neither the project nor the
    workspace sets `keep_artifacts` (then the root default of trakt-dagster's retention applies).

    Example:
        >>> artifact_rule(PitProject("p", Path("p"), Path("p/pit.toml")), WorkspaceConfig(Path("."))) is None
        True
    """
    if project.keep_artifacts or workspace.keep_artifacts is not None:
        return kept_artifacts(project, workspace)
    return None


def kept_artifacts(project: PitProject, workspace: WorkspaceConfig) -> tuple[str, ...]:
    """Which run sub-folders survive a run: the project's list (non-empty), else the workspace's, else all.

    A workspace `keep_artifacts = []` keeps everything (pit does no cleanup then).

    Example:
        >>> ws = WorkspaceConfig(Path("."), keep_artifacts=("data",))
        >>> kept_artifacts(PitProject("p", Path("p"), Path("p/pit.toml"), keep_artifacts=("logs",)), ws)
        ('logs',)
        >>> kept_artifacts(PitProject("p", Path("p"), Path("p/pit.toml")), ws)
        ('data',)
    """
    if project.keep_artifacts:
        return project.keep_artifacts
    if workspace.keep_artifacts is not None:
        return workspace.keep_artifacts or ARTIFACT_FOLDERS
    return ARTIFACT_FOLDERS
