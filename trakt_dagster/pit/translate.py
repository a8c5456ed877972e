"""A validated pit project → the neutral `TaskGraph`.

One asset per task (`[<dag>, <task>]`, `fetch-orders` shown as `fetch_orders`, a hash only on a real
collision; the original stays in `PIT_TASK_NAME`, the log file name and metadata), kinds `pit` + the runner (`python`,
`shell`, `sql`, `dbt`, or the custom command), deps from `depends_on`. `[[outputs]]` become assets that
depend on every leaf task, so they are materialized only when the whole run succeeded (pit records
outputs only then). The run: every task may run at once (pit has no limit; `[dag.dagster] max_parallel`
sets one), a task starts when its own dependencies succeeded (N3), failures skip only dependants,
`timeout` bounds the run and marks tasks not started as failed, a selection runs only the selected
tasks (pit's `run dag/task`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.graph import (
    FailurePolicy,
    Granularity,
    SnapshotSpec,
    Task,
    TaskGraph,
    TaskResult,
    TaskRole,
)
from trakt_dagster.core.metadata import json_list, metadata_entries
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.retention import RetentionPolicy
from trakt_dagster.core.source_text import leading_comment, source_description
from trakt_dagster.pit.metadata import PitDagMetadataSet, PitOutputMetadataSet, PitTaskMetadataSet
from trakt_dagster.pit.model import PitOutput, PitProject, PitTask, WorkspaceConfig, artifact_rule
from trakt_dagster.pit.runtime import SECRETS_RESOURCE_KEY, PitRunConfig, PitSecrets, make_session_factory
from trakt_dagster.pit.schedule import parse_schedule
from trakt_dagster.pit.tasks import RunPitTask, source_folder
from trakt_dagster.pit.triggers import event_trigger_definitions, serve_mode

TOOL = "pit"
KIND_TAGS = {"python": "python", "bash": "shell", "sql": "sql", "load": "sql", "save": "parquet", "dbt": "dbt"}
NO_SIZE_LIMIT = 1 << 40


def kind_tag(task: PitTask) -> str:
    """The Dagster kind of a task: its runner, or the custom runner's command.

    Example:
        >>> kind_tag(PitTask("e", kind="custom", command=("python3", "-u"))), kind_tag(PitTask("b", kind="bash"))
        ('python3', 'shell')
    """
    if task.kind == "custom":
        return Path(task.command[0]).name if task.command else "custom"
    return KIND_TAGS.get(task.kind, task.kind)


def task_metadata(project: PitProject, task: PitTask) -> dict[str, Any]:
    """Asset metadata of a task: its runner, dependencies and keys as written, a transform model's settings
    and SQL (retries, timeout and the names are the shared `trakt/` keys)."""
    model = task.model
    fields: dict[str, Any] = {}
    if model is not None:  # a transform model's task: its settings and the SQL it runs
        fields = {
            "model": model.name,
            "model_file": f"models/{model.rel_path}",
            "materialization": model.config.materialization,
            "relation": model.relation,
            "sql": model.compiled,
        }
        if model.config.strategy or model.config.materialization == "incremental":
            fields["strategy"] = model.config.strategy or "merge"
        if model.config.unique_key:
            fields["unique_key"] = json_list(model.config.unique_key)
    return metadata_entries(
        PitTaskMetadataSet,
        kind=task.kind,
        depends_on=json_list(task.depends_on),
        script=task.script or None,
        runner=task.runner or None,
        type=task.type or None,
        table=task.table or None,
        source=task.source or None,
        output=task.output or None,
        mode=task.mode or None,
        connection=task.connection or None,
        **fields,
    )


_UNKNOWN: Any = object()


def task_description(
    project: PitProject,
    task: PitTask,
    workspace: WorkspaceConfig | None = None,
    *,
    script: Path | None = _UNKNOWN,
    describe: Callable[[Path], str | None] = source_description,
) -> str:
    """The task's `description`, else what its script says about itself (docstring, leading comment),
    else a generic line (`script`: its `script_path`, when the caller has it already; `describe`: how a
    script's own description is read, e.g. once per file for a whole project).

    Example:
        >>> task_description(PitProject("p", Path("p"), Path("p/pit.toml")), PitTask("t", kind="bash"))
        "pit bash task 't'"
    """
    if task.description:
        return task.description
    if task.model is not None:
        model = task.model
        generic = (
            f"pit transform model '{model.name}' ({model.config.materialization} {model.relation}): "
            f"models/{model.rel_path}"
        )
        return source_description(model.path) or generic
    script = script_path(project, task, workspace) if script is _UNKNOWN else script
    found = describe(script) if script is not None else None
    return found or f"pit {task.kind} task '{task.name}'" + (f": {task.script}" if task.script else "")


def script_path(project: PitProject, task: PitTask, workspace: WorkspaceConfig | None = None) -> Path | None:
    """The file the task runs (its script, a transform model's SQL file), when it exists."""
    if task.model is not None:
        return task.model.path if task.model.path.is_file() else None
    if not task.script or task.kind == "dbt":
        return None
    folder = source_folder(project, workspace) if workspace is not None else project.folder
    path = folder / task.script
    return path if path.is_file() else None


def dag_description(project: PitProject) -> str:
    """`[dag] description`, else the comment `pit.toml` starts with, else a generic line."""
    comment = project.file_comment if project.file_comment is not None else leading_comment(project.pit_toml)
    return project.description or comment or f"pit DAG '{project.name}' ({project.pit_toml.parent.name}/pit.toml)"


def topological(tasks: tuple[PitTask, ...]) -> list[PitTask]:
    """Tasks with every dependency first, otherwise in file order (pit's files may list them in any order)."""
    by_name = {task.name: task for task in tasks}
    if len(by_name) == len(tasks) and _in_order(tasks, by_name):
        return list(tasks)  # what the walk gives when every dependency comes first already
    return depth_first(tasks, by_name)


def depth_first(tasks: tuple[PitTask, ...], by_name: dict[str, PitTask]) -> list[PitTask]:
    """The tasks in file order, each after its dependencies (depth first; a name seen twice counts once)."""
    done: set[str] = set()
    ordered: list[PitTask] = []

    def visit(task: PitTask) -> None:
        if task.name in done:
            return
        done.add(task.name)
        for dep in task.depends_on:
            if dep in by_name:
                visit(by_name[dep])
        ordered.append(task)

    for task in tasks:
        visit(task)
    return ordered


def _in_order(tasks: tuple[PitTask, ...], by_name: dict[str, PitTask]) -> bool:
    """Whether each task's dependencies (those that are tasks of the project) all come before it."""
    seen: set[str] = set()
    for task in tasks:
        for dep in task.depends_on:
            if dep in by_name and dep not in seen:
                return False
        seen.add(task.name)
    return True


class RecordOutput:
    """The callable of an `[[outputs]]` asset: reports the output's type, location and recipients."""

    def __init__(self, output: PitOutput) -> None:
        self.output = output

    def __call__(self, ctx: Any, upstream: Any) -> TaskResult:
        record = self.output.record()
        return TaskResult(metadata=output_metadata(self.output), record=record)


def output_metadata(output: PitOutput) -> dict[str, Any]:
    """Metadata of an `[[outputs]]` asset: each field exactly as written in pit.toml (`""` when absent).

    Example:
        >>> output_metadata(PitOutput("mail", type="email", recipients="a@b, c@d"))["pit/recipients"]
        'a@b, c@d'
    """
    record = output.record()
    recipients = record["recipients"]
    return metadata_entries(
        PitOutputMetadataSet,
        output=record["name"],
        type=record["type"],
        location=record["location"],
        recipients=recipients if isinstance(recipients, str) else json_list(recipients),
    )


_SECRETS_RESOURCES: dict[str, PitSecrets] = {}


def _secrets_resource(path: str) -> PitSecrets:
    """The secrets resource of a workspace, built once (every project shares it; Dagster keeps one per key anyway,
    and building a resource per project costs a validated model each, which a load of hundreds notices)."""
    found = _SECRETS_RESOURCES.get(path)
    if found is None:
        found = _SECRETS_RESOURCES.setdefault(path, PitSecrets(workspace_secrets=path))
    return found


def build_pit_graph(project: PitProject, workspace: WorkspaceConfig) -> TaskGraph:
    """The task graph of one validated pit project.

    Example:
        >>> # project, errors, warnings = validate_project(read_project(path)[0], workspace)
        >>> # graph = build_pit_graph(project, workspace)
    """
    tasks: list[Task] = []
    # the tasks of a project often run the same script: look at each file once, link to it with one reference
    paths: dict[tuple[str | None, str], tuple[Path | None, tuple[SourceLocation, ...]]] = {}
    descriptions: dict[Path, str | None] = {}

    def describe(path: Path) -> str | None:
        if path not in descriptions:
            descriptions[path] = source_description(path)
        return descriptions[path]

    for task in topological(project.tasks):
        if task.kind == "dbt":
            from trakt_dagster.pit.dbt_tasks import dbt_graph_tasks

            tasks.extend(dbt_graph_tasks(project, task, workspace))
            continue
        once = task.kind in ("load", "save")
        if task.model is None:
            where = (task.script, task.kind)
            if where not in paths:
                paths[where] = _script_and_references(script_path(project, task, workspace))
            script, references = paths[where]
        else:
            script, references = _script_and_references(script_path(project, task, workspace))
        tasks.append(
            Task(
                key=task.name,
                run=RunPitTask(project, task, workspace),
                deps=task.depends_on,
                description=task_description(project, task, workspace, script=script, describe=describe),
                source=SourceLocation(project.pit_toml, task.line, f"tasks[{task.index}]"),
                code_references=references,
                kinds=_kinds(kind_tag(task), task.model is not None),
                metadata=task_metadata(project, task),
                retries=0 if once else task.retries,
                retry_delay=task.retry_delay,
                timeout=None if once else task.timeout,
            )
        )
    tasks.extend(_output_tasks(project, tasks))
    triggers = ()
    if project.schedule:
        schedule = parse_schedule(project.schedule, overlap=project.overlap_policy)
        running = serve_mode()
        triggers = (replace(schedule, default_running=running) if running != schedule.default_running else schedule,)
    return TaskGraph(
        name=project.name,
        tool=TOOL,
        source_file=project.pit_toml,
        tasks=tuple(tasks),
        description=dag_description(project),
        triggers=triggers,
        max_parallel=project.max_parallel or max(1, len(tasks)),
        failure_policy=FailurePolicy.CONTINUE,
        granularity=Granularity(project.granularity or "pipeline"),
        allowed_granularities=frozenset(Granularity),
        step_retry_policy=True,
        file_settings=frozenset(k for k in ("granularity", "pool") if getattr(project, k)),
        run_timeout=project.timeout,
        deadline_fails_pending=True,
        subset_runs_ancestors=False,
        session_factory=make_session_factory(project, workspace),
        config_class=PitRunConfig,
        resources={SECRETS_RESOURCE_KEY: _secrets_resource(str(workspace.secrets_path or ""))},
        snapshot=SnapshotSpec(root=source_folder(project, workspace), max_file_bytes=NO_SIZE_LIMIT),
        task_log_files=False,  # pit's tasks write logs/<task>.log themselves, in pit's format (pit.task_log)
        pool=project.pool,
        in_process=True,
        extra_definitions=event_trigger_definitions(project, workspace),
        retention=RetentionPolicy(
            keep_runs=project.keep_runs,
            keep_days=float(project.keep_days) if project.keep_days is not None else None,
            keep_artifacts=artifact_rule(project, workspace),
        ),
        kinds=frozenset({TOOL}),
        metadata=metadata_entries(
            PitDagMetadataSet,
            pit_toml=str(project.pit_toml),
            schedule=project.schedule,
            overlap=project.overlap_policy,
            triggers=json_list(
                name
                for name, on in (
                    ("schedule", bool(project.schedule)),
                    ("ftp_watch", project.ftp_watch is not None),
                    ("webhook", bool(project.webhook_token_secret)),
                )
                if on
            ),
        ),
    )


def _script_and_references(script: Path | None) -> tuple[Path | None, tuple[SourceLocation, ...]]:
    """A task's script and its code references (a link to the script's first line), shared by the tasks of
    a project that run the same file."""
    return script, ((SourceLocation(script, 1, "script"),) if script is not None else ())


@functools.lru_cache(maxsize=256)  # a custom runner's command is its tag: a bounded cache
def _kinds(tag: str, model: bool) -> frozenset[str]:
    """A task's Dagster kinds (one set per runner, shared by the tasks that have it): `pit`, the runner's tag,
    and `mssql` for a transform model's task."""
    return frozenset({TOOL, tag, *(("mssql",) if model else ())})


def _output_tasks(project: PitProject, tasks: list[Task]) -> list[Task]:
    keys = {task.key for task in tasks}
    names = {dagster_name(task.key_name) for task in tasks}
    parents = {dep for task in tasks for dep in task.deps}
    leaves = tuple(task.key for task in tasks if task.key not in parents)
    found = []
    for index, output in enumerate(project.outputs):
        name = output.name if dagster_name(output.name) not in names else f"{output.name}_output"
        key = f"output:{output.name}"
        while key in keys:
            key += "_"
        found.append(
            Task(
                key=key,
                label=f"output {output.name}",
                asset_name=name,
                run=RecordOutput(output),
                deps=leaves,
                role=TaskRole.OUTPUT,
                description=f"pit output '{output.name}' ({output.type or 'untyped'}) at {output.location or '?'}",
                source=SourceLocation(project.pit_toml, output.line, f"outputs[{index}]"),
                kinds=frozenset({TOOL}),
                metadata=output_metadata(output),
            )
        )
    return found
