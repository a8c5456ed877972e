"""Task graph → Dagster definitions: external input assets, one subsettable multi-asset and one job.

(No `from __future__ import annotations` here: Dagster reads the op functions' annotations.)
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from trakt_dagster.core.errors import LoadError, SourceLocation, excerpt
from trakt_dagster.core.execution import GraphBinding, execute_graph
from trakt_dagster.core.executors import executor_for_ops
from trakt_dagster.core.graph import Granularity, TaskGraph
from trakt_dagster.core.names import unique_dagster_names
from trakt_dagster.core.path_text import name_problem
from trakt_dagster.core.resources import RUN_STORAGE_KEY, RunStorage, shared_resource
from trakt_dagster.core.run_config import config_fields_of, config_value, shares_schema
from trakt_dagster.core.translator import (
    DagsterTaskGraphTranslator,
    ExternalTranslatorData,
    TaskTranslatorData,
)
from trakt_dagster.core.triggers import trigger_schedules_and_sensors

LOAD_LOG = logging.getLogger("trakt_dagster.load")


@dataclass(frozen=True)
class BuildContext:
    """What a graph's `extra_definitions` hook receives: the graph, its Dagster names and its job.

    Example:
        >>> # def extra(ctx: BuildContext) -> dg.Definitions:
        >>> #     return dg.Definitions(sensors=[my_sensor(ctx.job)])
    """

    graph: TaskGraph
    binding: GraphBinding
    job: Any
    pipeline_name: str
    translator: DagsterTaskGraphTranslator


def check_graph(graph: TaskGraph, translator: DagsterTaskGraphTranslator) -> list[LoadError]:
    """Problems that stop a graph from becoming Dagster definitions (name collisions, bad order)."""
    errors: list[LoadError] = []
    where = SourceLocation(graph.source_file)
    problem = name_problem(graph.name)
    if problem:
        return [
            LoadError(
                f"The pipeline name {excerpt(graph.name)} {problem}.",
                where,
                "give the pipeline a short name of letters, digits, '_' or '-'",
            )
        ]
    for task in graph.tasks:
        problem = name_problem(task.key)
        if problem:
            errors.append(
                LoadError(
                    f"Pipeline '{graph.name}': the task name {excerpt(task.key)} {problem}.",
                    task.source or where,
                    "task names become file names (logs/<task>.log) and Dagster names: keep them short and printable",
                )
            )
    if errors:
        return errors
    seen: dict[str, str] = {}
    for name, originals in graph.name_collisions.items():
        shown = ", ".join(f"'{o}' as '{graph.dagster_names[o]}'" for o in originals)
        LOAD_LOG.warning(
            "warning: pipeline '%s': %s would all be Dagster name '%s'; told apart by a hash: %s",
            graph.name,
            " and ".join(f"'{o}'" for o in originals),
            name,
            shown,
        )
    for task in graph.tasks:
        for dep in task.deps:
            if dep not in graph.by_key:
                errors.append(LoadError(f"Task '{task.key}' depends on unknown task '{dep}'.", where))
    names: dict[dg.AssetKey, tuple[object, str]] = {}  # what takes each key: (its kind, its name)
    for dataset in graph.external:
        names[translator.get_external_key(ExternalTranslatorData(graph, dataset))] = ("input", dataset.name)
    for task in graph.tasks:
        if task.key in seen:
            errors.append(LoadError(f"Duplicate task key '{task.key}'.", task.source or where))
        seen[task.key] = task.key
        if not task.is_asset:
            continue
        key = translator.get_asset_key(TaskTranslatorData(graph, task))
        if key in names:
            kind, name = names[key]
            errors.append(
                LoadError(
                    f"Pipeline '{graph.name}': '{task.key_name}' ({task.role}) and {kind} '{name}' both become "
                    f"Dagster asset {key.to_user_string()}.",
                    task.source or where,
                    hint="rename one of them so their names differ in more than punctuation",
                )
            )
        names[key] = (task.role, task.key_name)
    return errors


def bind_graph(graph: TaskGraph, translator: DagsterTaskGraphTranslator) -> GraphBinding:
    """Compute the Dagster names of a graph's assets and checks once."""
    asset_keys = {
        task.key: translator.get_asset_key(TaskTranslatorData(graph, task)) for task in graph.tasks if task.is_asset
    }
    check_names = {
        (task.key, original): name
        for task in graph.tasks
        if task.checks
        for original, name in unique_dagster_names(check.name for check in task.checks).items()
    }
    return GraphBinding(graph=graph, asset_keys=asset_keys, check_names=check_names)


def graph_resources(
    graph: TaskGraph,
    run_storage: RunStorage,
    granularity: Granularity,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The resources a graph's ops need: run storage, the graph's own, the value IO manager (step)."""
    found: dict[str, Any] = {RUN_STORAGE_KEY: run_storage, **graph.resources}
    found.update({k: v for k, v in (overrides or {}).items() if k in found})
    if granularity is Granularity.STEP:
        from trakt_dagster.core.io_manager import VALUES_IO_MANAGER_KEY, TaskValueIOManager

        found[VALUES_IO_MANAGER_KEY] = (overrides or {}).get(
            VALUES_IO_MANAGER_KEY, TaskValueIOManager(runs_dir=run_storage.runs_dir)
        )
    return {key: shared_resource(value) for key, value in found.items()}


def build_graph_definitions(
    graph: TaskGraph,
    *,
    translator: DagsterTaskGraphTranslator | None = None,
    run_storage: RunStorage,
    resources: Mapping[str, Any] | None = None,
    granularity: Granularity | None = None,
    include_resources: bool = True,
) -> dg.Definitions:
    """Dagster definitions for one pipeline.

    Example:
        >>> # defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir="runs"))
        >>> # defs.resolve_job_def("sales").execute_in_process()
    """
    translator = translator or DagsterTaskGraphTranslator()
    granularity = granularity or graph.granularity
    if granularity is Granularity.STEP and graph.step_as_pipeline:
        granularity = Granularity.PIPELINE  # its one op already is its unit (a ductaflow flow or build)
    binding = bind_graph(graph, translator)
    externals = [translator.get_external_spec(ExternalTranslatorData(graph, d)) for d in graph.external]
    pipeline = translator.get_pipeline_name(graph)
    all_resources = graph_resources(graph, run_storage, granularity, resources)

    if granularity is Granularity.STEP:
        from trakt_dagster.core.step_builder import build_step_assets

        assets = build_step_assets(graph, binding, translator, resource_keys=set(all_resources))
    else:
        assets = [_pipeline_asset(graph, binding, translator, resource_keys=set(all_resources))]

    job = dg.define_asset_job(
        name=pipeline,
        selection=dg.AssetSelection.assets(*binding.asset_keys.values()),
        description=graph.description or f"Run the {graph.tool} pipeline '{graph.name}'.",
        tags={"trakt/tool": graph.tool, "trakt/pipeline": pipeline},
        partitions_def=graph.partitions_def,
        executor_def=_executor(graph, granularity, len(assets)),
    )
    schedules, sensors = trigger_schedules_and_sensors(graph, job, pipeline)
    # what `Definitions.merge` of the graph's assets and job with its triggers gives, built at once (a merge
    # costs as much as building the definitions themselves, once per pipeline of a load)
    defs = dg.Definitions(
        assets=[*externals, *assets],
        schedules=schedules,
        sensors=sensors,
        jobs=[job],
        resources=dict(all_resources) if include_resources else {},
        loggers={},
        asset_checks=[],
        metadata={},
    )
    if graph.extra_definitions is not None:
        extra = graph.extra_definitions(BuildContext(graph, binding, job, pipeline, translator))
        defs = dg.Definitions.merge(defs, extra)
    return defs


def _executor(graph: TaskGraph, granularity: Granularity, op_count: int) -> Any:
    """A job of one op runs it in the run worker (no process start per run); more ops run in parallel."""
    if graph.in_process and granularity is Granularity.PIPELINE:
        return dg.in_process_executor
    return executor_for_ops(op_count)


def _pipeline_asset(
    graph: TaskGraph,
    binding: GraphBinding,
    translator: DagsterTaskGraphTranslator,
    *,
    resource_keys: set[str],
) -> dg.AssetsDefinition:
    specs = []
    check_specs = []
    for task in graph.tasks:
        if not task.is_asset:
            continue
        data = TaskTranslatorData(graph, task)
        specs.append(translator.get_asset_spec(data))
        if task.checks:
            check_specs.extend(translator.get_check_spec(data, check) for check in task.checks)
    all_asset_tasks = {task.key for task in graph.tasks if task.is_asset}
    key_to_task = {key: task_key for task_key, key in binding.asset_keys.items()}

    def body(context: dg.AssetExecutionContext, config: Any):  # noqa: ANN202 - a generator op
        chosen = {key_to_task[k] for k in context.selected_asset_keys if k in key_to_task}
        selected = None if chosen == all_asset_tasks else chosen
        yield from execute_graph(
            context,
            binding,
            runs_dir=getattr(context.resources, RUN_STORAGE_KEY).runs_dir,
            config=config,
            selected=selected,
            granularity=Granularity.PIPELINE,
        )

    # `context` unannotated where nothing else is: an asset's op gets an AssetExecutionContext either way, and
    # Dagster then skips checking the annotation for every op of a load
    config_class, config_schema = graph.config_class, None
    if shares_schema(config_class):  # the schema inferred once per class, not once per op

        def op_fn(context):  # noqa: ANN001, ANN202 - a generator op; see above
            yield from body(context, config_value(config_class, context))

        config_schema = config_fields_of(config_class)
    elif config_class is not None:
        body.__annotations__["config"] = config_class
        op_fn = body
    else:

        def op_fn(context):  # noqa: ANN001, ANN202 - a generator op; see above
            yield from body(context, None)

    return dg.multi_asset(
        specs=specs,
        check_specs=check_specs or None,
        can_subset=True,
        name=f"{translator.get_pipeline_name(graph)}_pipeline",
        required_resource_keys=resource_keys,
        config_schema=config_schema,
        description=graph.description,
        op_tags={"trakt/tool": graph.tool},
        partitions_def=graph.partitions_def,
        backfill_policy=graph.backfill_policy,
        pool=graph.pool,
        retry_policy=(
            dg.RetryPolicy(max_retries=graph.op_retries.max_retries, delay=graph.op_retries.delay)
            if graph.op_retries is not None
            else None
        ),
    )(op_fn)
