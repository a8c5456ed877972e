"""A pit dbt task as graph tasks: dbt runs once, each model / seed / snapshot is an asset, tests are checks.

For a task `build` (`runner = "dbt"`, `script = "build"`) of a project with `[dag.dbt]`:

* `build::dbt` (a helper, not an asset) runs `dbt build` through dagster-dbt's `DbtCliResource` in the
  run's snapshot, with a `profiles.yml` generated from the `[dag.dbt] connection` secret and pit's task
  environment; it carries the task's retries and timeout. Its last attempt never fails on model errors,
  so every node's own result is reported;
* one asset per dbt node (`[<dag>, <model name>]`, kinds `pit`, `dbt`, the adapter), depending on the
  other nodes it refs and (through the helper) on the task's `depends_on`; its dbt tests are asset
  checks (WARN severity for `severity: warn` tests). A node the command did not run is not materialized;
* the pit task `build` itself (an asset, kind `dbt`) fails when dbt failed, so tasks that depend on it are
  upstream-failed as in pit.

Selecting only some models runs dbt with `--select <those models>`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.errors import LoadError, PipelineLoadErrors, SourceLocation
from trakt_dagster.core.graph import CheckDefinition, CheckOutcome, Task, TaskResult
from trakt_dagster.core.metadata import TableMetadataSet, TaskMetadataSet, metadata_entries
from trakt_dagster.pit.dbt import (
    DbtNode,
    DbtProjectError,
    DbtRunOutcome,
    adapter_type,
    read_dbt_project,
    run_dbt,
    selection_args,
    summary_line,
    write_profiles,
)
from trakt_dagster.pit.metadata import PitDbtMetadataSet, PitTaskMetadataSet
from trakt_dagster.pit.model import PitProject, PitTask, WorkspaceConfig
from trakt_dagster.pit.runtime import DBT_HELPER_SUFFIX, PitSession
from trakt_dagster.pit.tasks import source_folder

PASSED = ("success", "pass")


def runner_key(task: PitTask) -> str:
    """The key of the helper task that runs dbt for a pit dbt task.

    Example:
        >>> runner_key(PitTask("build", kind="dbt"))
        'build::dbt'
    """
    return f"{task.name}{DBT_HELPER_SUFFIX}"


def node_key(task: PitTask, node: DbtNode) -> str:
    """The key of a dbt node's task (unique in the graph, shown as the node's name)."""
    return f"{task.name}::{node.unique_id}"


class RunDbt:
    """The helper task: run the pit task's dbt command once per attempt, return the outcome."""

    def __init__(
        self, project: PitProject, task: PitTask, workspace: WorkspaceConfig, nodes: tuple[DbtNode, ...]
    ) -> None:
        self.project = project
        self.task = task
        self.workspace = workspace
        self.nodes = nodes

    def __call__(self, ctx: TaskContext, upstream: Any) -> TaskResult:
        session: PitSession = ctx.session
        dbt = self.project.dbt
        assert dbt is not None
        connection = None
        if dbt.connection:
            if session.secrets_store is None:
                raise RuntimeError(f"[dag.dbt] connection '{dbt.connection}' needs a secrets file")
            connection = session.secrets_store.with_task(self.task.name).structured(dbt.connection)
        args = (self.task.script or "").split()
        chosen = [n.name for n in self.nodes if node_key(self.task, n) in session.planned]
        if self.task.name not in session.planned and 0 < len(chosen) < len(self.nodes):
            args += selection_args(chosen)
        log = session.task_log(self.task.name)
        log.begin_attempt(ctx.attempt, self.task.attempts)

        def line(level: str, text: str) -> None:
            log.write_text(text + "\n")
            ctx.emit(level, text, {})

        with tempfile.TemporaryDirectory(prefix="pit-dbt-") as profiles:
            write_profiles(
                Path(profiles),
                profile=dbt.profile or self.project.name,
                target=dbt.target,
                threads=dbt.threads or None,
                adapter=dbt.adapter,
                connection=connection,
                base_dir=self.workspace.root,
                driver=self.workspace.dbt_driver,
            )
            outcome = run_dbt(
                args,
                project_dir=session.project_dir / (dbt.project_dir or "."),
                profiles_dir=Path(profiles),
                profile=dbt.profile or self.project.name,
                target=dbt.target,
                target_path=session.data_dir / "dbt_target" / self.task.name,
                env=session.task_env(self.task.name, ""),
                on_line=line,
                on_start=ctx.on_cancel,
                secrets=session.secrets,
            )
        if not outcome.success and (ctx.attempt <= self.task.retries or not outcome.results):
            raise DbtCommandError(self.task.name, outcome)
        return TaskResult(value=outcome, record={"pit_task": self.task.name, "attempt": ctx.attempt})


class DbtCommandError(RuntimeError):
    """dbt exited with an error (or could not start); the message lists the failing nodes."""

    def __init__(self, task: str, outcome: DbtRunOutcome) -> None:
        failing = [
            f"{r.name or r.unique_id} ({r.status})"
            for r in outcome.results.values()
            if r.status not in PASSED + ("skipped",)
        ]
        text = f"dbt task '{task}' failed (exit status {outcome.returncode})"
        if failing:
            text += ": " + ", ".join(failing)
        if outcome.error:
            text += f"\n{outcome.error}"
        super().__init__(text)


class ReportDbtNode:
    """A dbt node's task: its result in the dbt run, its tests as check outcomes."""

    def __init__(self, task: PitTask, node: DbtNode) -> None:
        self.task = task
        self.node = node

    def __call__(self, ctx: TaskContext, upstream: Any) -> TaskResult:
        outcome: DbtRunOutcome = upstream[runner_key(self.task)]
        node = self.node
        result = outcome.results.get(node.unique_id)
        if result is None:
            ctx.log.info(f"{node.resource_type} {node.name} was not run by `dbt {self.task.script}`")
            return TaskResult(materialize=False)
        if result.status not in PASSED:
            raise RuntimeError(f"dbt {node.resource_type} {node.name}: {result.status}: {result.message or ''}".strip())
        checks = []
        for test in node.tests:
            tested = outcome.results.get(test.unique_id)
            if tested is None:
                continue
            checks.append(
                CheckOutcome(
                    test.name,
                    passed=tested.status in PASSED,
                    severity="warn" if test.severity.upper() == "WARN" else "error",
                    description=tested.message or None,
                    metadata=metadata_entries(PitDbtMetadataSet, status=tested.status, failures=tested.failures),
                )
            )
        metadata = {
            **metadata_entries(
                PitDbtMetadataSet,
                unique_id=node.unique_id,
                materialized=node.materialized,
                status=result.status,
                execution_time_s=round(result.execution_time or 0.0, 3),
            ),
            **metadata_entries(TableMetadataSet, row_count=result.rows_affected),
        }
        return TaskResult(metadata=metadata, checks=checks)


class FinishDbtTask:
    """The pit task itself: fails when the dbt command failed (pit marks the dbt task failed)."""

    def __init__(self, task: PitTask) -> None:
        self.task = task

    def __call__(self, ctx: TaskContext, upstream: Any) -> TaskResult:
        outcome: DbtRunOutcome = upstream[runner_key(self.task)]
        log = ctx.session.task_log(self.task.name)
        for result in outcome.results.values():
            level, text = summary_line(result)
            log.write_text(text + "\n")
            ctx.emit(level, text, {})
        if not outcome.success:
            raise DbtCommandError(self.task.name, outcome)
        metadata = metadata_entries(PitDbtMetadataSet, nodes=len(outcome.results))
        return TaskResult(metadata=metadata, record={"pit_task": self.task.name})


def dbt_graph_tasks(project: PitProject, task: PitTask, workspace: WorkspaceConfig) -> list[Task]:
    """The graph tasks of one pit dbt task (reads the dbt project's manifest; parse errors are load errors)."""
    dbt = project.dbt
    assert dbt is not None
    folder = source_folder(project, workspace) / (dbt.project_dir or ".")
    where = SourceLocation(project.pit_toml, task.line, f"tasks[{task.index}]")
    try:
        info = read_dbt_project(folder, adapter=dbt.adapter, target=dbt.target)
    except DbtProjectError as exc:
        location = SourceLocation(exc.file, None, None) if exc.file else where
        raise PipelineLoadErrors(
            [LoadError(f"dbt project of task '{task.name}': {exc.message}", location, exc.hint, "pit")]
        ) from None
    kinds = frozenset({"pit", "dbt", adapter_type(dbt.adapter)})
    helper = Task(
        key=runner_key(task),
        run=RunDbt(project, task, workspace, info.nodes),
        deps=task.depends_on,
        is_asset=False,
        description=f"runs `dbt {task.script}` for pit task '{task.name}'",
        source=where,
        retries=task.retries,
        retry_delay=task.retry_delay,
        timeout=task.timeout,
    )
    ids = {node.unique_id for node in info.nodes}
    nodes = [
        Task(
            key=node_key(task, node),
            asset_name=node.name,
            run=ReportDbtNode(task, node),
            deps=(helper.key, *(node_key(task, info.node(dep)) for dep in node.depends_on if dep in ids)),
            description=node.description or f"dbt {node.resource_type} {node.name} ({node.original_file_path})",
            source=SourceLocation(folder / node.original_file_path),
            kinds=kinds,
            metadata={
                **metadata_entries(PitTaskMetadataSet, task=task.name),
                **metadata_entries(PitDbtMetadataSet, unique_id=node.unique_id, materialized=node.materialized),
            },
            checks=tuple(
                CheckDefinition(t.name, description=t.description or f"dbt test {t.name}") for t in node.tests
            ),
        )
        for node in info.nodes
    ]
    finish = Task(
        key=task.name,
        run=FinishDbtTask(task),
        deps=(helper.key,),
        description=task.description or f"pit dbt task '{task.name}': dbt {task.script}",
        source=where,
        kinds=kinds,
        metadata={
            **PitTaskMetadataSet(kind="dbt", script=task.script),
            **TaskMetadataSet(retries=task.retries or None),
        },
    )
    return [helper, *nodes, finish]
