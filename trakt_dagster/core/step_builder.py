"""Step granularity: one Dagster op (asset) per task; values cross ops through the IO manager.

Helper tasks that are not assets (trakt input loading) run inside each op that needs them. Use it
for Dagster-level parallelism (multiprocess executor) and re-execution from a failed task. Task
retries stay with the runner inside the op (as in pipeline granularity), unless the graph sets
`step_retry_policy` (pit): then a task's `retries` / `retry_delay` are its op's Dagster `RetryPolicy`.
"""

from dataclasses import replace
from typing import Any

import dagster as dg

from trakt_dagster.core.execution import GraphBinding, execute_graph
from trakt_dagster.core.graph import Granularity, Task, TaskGraph
from trakt_dagster.core.io_manager import VALUES_IO_MANAGER_KEY
from trakt_dagster.core.resources import RUN_STORAGE_KEY
from trakt_dagster.core.run_config import config_schema_of, config_value, shares_schema
from trakt_dagster.core.runner import plan_tasks
from trakt_dagster.core.translator import DagsterTaskGraphTranslator, TaskTranslatorData


def asset_frontier(graph: TaskGraph, task: Task) -> list[str]:
    """The asset tasks whose values `task` needs, looking through non-asset helper tasks."""
    found: list[str] = []
    stack = list(reversed(task.deps))
    seen: set[str] = set()
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        dep = graph.by_key[key]
        if dep.is_asset:
            found.append(key)
        else:
            stack.extend(reversed(dep.deps))
    return found


def run_plan_for(graph: TaskGraph, selected_assets: set[str]) -> list[str]:
    """Every task a step-granularity run executes: the selected assets and their helper tasks."""
    unselected_assets = {t.key: None for t in graph.tasks if t.is_asset and t.key not in selected_assets}
    return plan_tasks(graph, selected_assets, unselected_assets)


def run_tasks(run: Any, graph: TaskGraph, key_to_task: dict[dg.AssetKey, str]) -> set[str]:
    """The asset tasks a step-granularity run executes: its step keys (re-execution), else its asset
    selection, else all of them."""
    by_op = {key.to_python_identifier(): task for key, task in key_to_task.items()}
    if run.step_keys_to_execute is not None:
        return {by_op[step] for step in run.step_keys_to_execute if step in by_op}
    if run.asset_selection is not None:
        return {key_to_task[k] for k in run.asset_selection if k in key_to_task}
    return {t.key for t in graph.tasks if t.is_asset}


def build_step_assets(
    graph: TaskGraph,
    binding: GraphBinding,
    translator: DagsterTaskGraphTranslator,
    *,
    resource_keys: set[str],
) -> list[dg.AssetsDefinition]:
    """One `@asset` per asset task of `graph`."""
    key_to_task = {key: task_key for task_key, key in binding.asset_keys.items()}
    assets = []
    for task in graph.tasks:
        if task.is_asset:
            assets.append(_step_asset(graph, binding, translator, task, key_to_task, resource_keys))
    return assets


def _step_asset(
    graph: TaskGraph,
    binding: GraphBinding,
    translator: DagsterTaskGraphTranslator,
    task: Task,
    key_to_task: dict[dg.AssetKey, str],
    resource_keys: set[str],
) -> dg.AssetsDefinition:
    retry_policy = None
    if graph.step_retry_policy and task.retries > 0:
        retry_policy = dg.RetryPolicy(max_retries=task.retries, delay=task.retry_delay or None)
        op_task = replace(task, retries=0, dagster_retries=task.retries)
        op_graph = replace(graph, tasks=tuple(op_task if t.key == task.key else t for t in graph.tasks))
        binding = replace(binding, graph=op_graph)
    elif graph.op_retries is not None:  # the pipeline's op retries apply to every task's op
        retry_policy = dg.RetryPolicy(max_retries=graph.op_retries.max_retries, delay=graph.op_retries.delay)
    data = TaskTranslatorData(graph, task)
    spec = translator.get_asset_spec(data)
    frontier = asset_frontier(graph, task)
    ins = {f"upstream_{i}": dg.AssetIn(key=binding.asset_keys[key]) for i, key in enumerate(frontier)}
    in_keys = {binding.asset_keys[key] for key in frontier}
    deps = [dep.asset_key for dep in spec.deps if dep.asset_key not in in_keys]
    task_key = task.key

    def body(context: dg.AssetExecutionContext, config: Any, **upstream: Any):  # noqa: ANN202 - generator op
        provided = {key: upstream[f"upstream_{i}"] for i, key in enumerate(frontier)}
        selected_assets = run_tasks(context.run, graph, key_to_task)
        yield from execute_graph(
            context,
            binding,
            runs_dir=getattr(context.resources, RUN_STORAGE_KEY).runs_dir,
            config=config,
            selected={task_key},
            provided=provided,
            granularity=Granularity.STEP,
            run_plan=run_plan_for(graph, selected_assets),
        )

    config_class, config_schema = graph.config_class, None
    if shares_schema(config_class):  # the schema inferred once per class, not once per op
        config_schema = config_schema_of(config_class)

        def op_fn(context: dg.AssetExecutionContext, **upstream: Any):  # noqa: ANN202 - generator op
            yield from body(context, config_value(config_class, context), **upstream)

    elif config_class is not None:
        body.__annotations__["config"] = config_class
        op_fn = body
    else:

        def op_fn(context: dg.AssetExecutionContext, **upstream: Any):  # noqa: ANN202 - generator op
            yield from body(context, None, **upstream)

    tags = {k: v for k, v in (spec.tags or {}).items() if not k.startswith("dagster/kind/")}
    return dg.asset(
        key=spec.key,
        ins=ins,
        deps=deps,
        description=spec.description,
        metadata=spec.metadata,
        group_name=spec.group_name,
        kinds=spec.kinds,
        tags=tags,
        owners=list(spec.owners or []),
        check_specs=[translator.get_check_spec(data, check) for check in task.checks] or None,
        io_manager_key=VALUES_IO_MANAGER_KEY,
        required_resource_keys=resource_keys,
        config_schema=config_schema,
        pool=task.pool or graph.pool,
        partitions_def=graph.partitions_def,
        op_tags={"trakt/tool": graph.tool, "trakt/task": task.key},
        retry_policy=retry_policy,
    )(op_fn)
