"""A flowrun DAG → the neutral `TaskGraph`: one asset per task, the DAG's own edges, flowrun's run rules.

Asset keys are `[<dag>, <task>]` (`region-totals` shown as `region_totals`, a hash only on a real
collision; the flowrun names stay in metadata, hooks, reports and `upstream` keys), the task's docstring
is its description, kinds `flowrun`. The graph runs in one op (values by reference, one event loop, one
context, hooks per run), `max_parallel` tasks at a time, `retries + 1` immediate attempts, and a failure skips only the
failed task's descendants (`continue` policy).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.graph import FailurePolicy, Granularity, SnapshotSpec, Task, TaskGraph
from trakt_dagster.core.metadata import TaskMetadataSet, json_list, metadata_entries
from trakt_dagster.flowrun.metadata import FlowrunDagMetadataSet, FlowrunTaskMetadataSet
from trakt_dagster.flowrun.model import FlowrunDag, FlowrunTask
from trakt_dagster.flowrun.resume import make_reuse_policy
from trakt_dagster.flowrun.runtime import FlowrunRunConfig, make_session_factory
from trakt_dagster.flowrun.tasks import RunFlowrunTask

TOOL = "flowrun"
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".toml", ".sql", ".md", ".cfg", ".ini", ".txt")


def task_metadata(dag: FlowrunDag, task: FlowrunTask) -> dict[str, object]:
    """Asset metadata of a task: the DAG's style, its deps (ordering-only ones listed), async, backoff
    (name, DAG, retries, delay and timeout are the shared `trakt/` keys)."""
    # flowrun enforces its own timeouts (inside the event loop), so the timeout is metadata, not `Task.timeout`
    ordering_only = task.ordering_only_deps
    own = metadata_entries(
        FlowrunTaskMetadataSet,
        style=dag.style,
        deps=json_list(task.deps),
        ordering_only_deps=json_list(ordering_only) if ordering_only else None,
        is_async=task.shape.is_async,
        retry_backoff=float(task.retry_backoff) if task.retries and task.retry_backoff != 1 else None,
    )
    if task.timeout_s is None:
        return own
    return {**metadata_entries(TaskMetadataSet, timeout_s=float(task.timeout_s)), **own}


def build_flowrun_graph(dag: FlowrunDag) -> TaskGraph:
    """The task graph of one flowrun DAG.

    Example:
        >>> # dags, errors = load_module_dags(found, set()); graph = build_flowrun_graph(dags[0])
    """
    tasks = tuple(
        Task(
            key=task.name,
            run=RunFlowrunTask(dag, task),
            deps=task.deps,
            description=task.description,
            source=SourceLocation(task.file or dag.module_path, task.line, f"task '{task.name}'"),
            metadata=task_metadata(dag, task),
            retries=task.retries,
            retry_delay=task.retry_delay_s,
            retry_backoff=task.retry_backoff,
        )
        for task in dag.tasks
    )
    package = dag.namespace is not None and dag.namespace.package
    folder = dag.namespace.root if package else dag.module_path.parent
    top_level = folder.name == "pipelines" and not package
    snapshot = SnapshotSpec(
        root=folder,
        suffixes=SOURCE_SUFFIXES,
        exclude_dirs=(folder / "outputs",),
        files=(dag.module_path,) if top_level else (),
    )
    return TaskGraph(
        name=dag.name,
        tool=TOOL,
        source_file=dag.module_path,
        tasks=tasks,
        description=dag.description or f"flowrun DAG '{dag.name}' ({dag.module_path.name}: {dag.attribute})",
        max_parallel=dag.max_parallel,
        failure_policy=FailurePolicy.CONTINUE,
        granularity=Granularity(dag.granularity),
        allowed_granularities=frozenset(Granularity),
        pool=dag.pool,
        file_settings=dag.file_settings,
        session_factory=make_session_factory(dag),
        config_class=FlowrunRunConfig,
        persist_values=dag.persist_values,
        materialization_events=True,
        reuse_values=make_reuse_policy(dag) if dag.persist_values else None,
        extra_definitions=_batch_definitions(dag) if dag.batches is not None else None,
        snapshot=snapshot,
        retention=dag.retention,
        metadata=metadata_entries(
            FlowrunDagMetadataSet, style=dag.style, module=str(dag.module_path), attribute=dag.attribute
        ),
    )


def _batch_definitions(dag: FlowrunDag) -> Any:
    """The batch sensor's definitions builder, its module imported only for DAGs that have batches."""
    from trakt_dagster.flowrun.batches import batch_definitions

    return partial(batch_definitions, dag)
