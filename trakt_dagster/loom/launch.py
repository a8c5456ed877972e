"""Run a loom pipeline through Dagster from Python or the command line, with loom's `include` rules.

`include` names step or process classes, as `ETLRunner.run(include=...)` does: unknown names are loom's
`InvalidStageError`, and leaving out the producer of a `RUN` temp a selected step reads is an error naming
both (loom removes `RUN` temps at the end of every `run` call). The names become a Dagster asset selection
(the assets their steps write; steps that write only temps run with the steps reading them).

Example:
    ```python
    from trakt_dagster.loom.launch import run_pipeline

    outcome = run_pipeline(".", "OrdersNightly", include=["DailySummary"], params={"run_date": "2026-03-30"})
    print(outcome.status, outcome.manifest["loom"]["include"])
    ```
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.definitions import default_runs_dir, load_graphs, load_graphs_for
from trakt_dagster.core.discovery import LoadOptions
from trakt_dagster.core.errors import PipelineLoadErrors, errors_of
from trakt_dagster.core.graph import TaskGraph
from trakt_dagster.core.launch import RunOutcome, launch_job
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.loom.model import DatasetKind, LoomPipeline
from trakt_dagster.loom.params import ParamsError, coerce_param

TOOL = "loom"


class IncludeError(ValueError):
    """An `include` loom would refuse, or one that cannot run in one call."""


def find_pipeline(pipelines: Sequence[LoomPipeline], name: str) -> LoomPipeline:
    """The loom pipeline named `name` (class name); else a KeyError listing the pipelines."""
    for pipeline in pipelines:
        if name in (pipeline.name, dagster_name(pipeline.name)):
            return pipeline
    names = sorted(p.name for p in pipelines)
    message = f"No loom pipeline {name!r}."
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    raise KeyError(message + f" Pipelines: {', '.join(names) or '(none)'}.")


def include_tasks(pipeline: LoomPipeline, graph: TaskGraph, include: Sequence[str]) -> list[str]:
    """The task keys of the assets a loom `include` selects (checked with loom's own `filter_plan`)."""
    from loom.etl.compiler import InvalidStageError, filter_plan

    if isinstance(include, str):
        raise IncludeError(f"include must be a list of names, not the string {include!r}")
    if not include:
        raise IncludeError("include is empty: loom would run nothing; name at least one step or process")
    try:
        filter_plan(pipeline.plan, set(include))
    except InvalidStageError as exc:
        raise IncludeError(
            f"{exc} Steps: {', '.join(pipeline.step_names)}; processes: {', '.join(pipeline.process_names)}."
        ) from None
    chosen = {step.key for name in include for step in pipeline.occurrences(name)}
    names = {pipeline.step(key).name for key in chosen}
    for key in sorted(chosen, key=[s.key for s in pipeline.steps].index):
        step = pipeline.step(key)
        for temp in step.reads(DatasetKind.TEMP):
            producers = [s for s in pipeline.steps if s.temp_target is not None and s.temp_target.ref == temp.ref]
            if producers and producers[0].temp_target.scope == "run" and not any(p.name in names for p in producers):
                writers = ", ".join(dict.fromkeys(p.name for p in producers))
                raise IncludeError(
                    f"{step.name} reads the RUN temp '{temp.ref}' written by {writers}, which the include leaves "
                    f"out: loom removes RUN temps at the end of every run call. Include {writers} too."
                )
    by_key = graph.by_key
    selected: list[str] = []
    for task in graph.tasks:
        if not task.is_asset:
            continue
        if task.key in chosen or any(dep in chosen and not by_key[dep].is_asset for dep in _writers(task)):
            selected.append(task.key)
    consumers = {k for t in graph.tasks if t.key in selected for k in t.deps}
    orphans = [k for k in chosen if not by_key[k].is_asset and k not in consumers]
    if not selected or orphans:
        names_text = ", ".join(pipeline.step(k).name for k in orphans) or ", ".join(sorted(names))
        raise IncludeError(
            f"{names_text} write(s) only temps or external targets, which are not Dagster assets: include a step "
            "that reads them (it runs them in the same call)"
        )
    return selected


def _writers(task: Any) -> tuple[str, ...]:
    return task.deps if task.key.startswith(("table:", "file:")) else ()


def params_config(pipeline: LoomPipeline, params: Mapping[str, str]) -> dict[str, Any]:
    """Run config values of `--param NAME=VALUE` pairs, in the params fields' types (raises `ParamsError`)."""
    return {name: coerce_param(pipeline, name, str(value)) for name, value in params.items()}


def run_pipeline(
    root: str | os.PathLike[str],
    name: str,
    *,
    include: Sequence[str] = (),
    params: Mapping[str, str] | None = None,
    correlation_id: str | None = None,
    partition: str | None = None,
    runs_dir: str | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO",
    tags: Mapping[str, str] | None = None,
) -> RunOutcome:
    """One Dagster run of a loom pipeline (all steps, or `include` by loom's rules) with params values."""
    from trakt_dagster.loom.frontend import load_pipelines

    pipelines, _ = load_pipelines(Path(root), LoadOptions(only=frozenset({name})))
    load_errors: list = []
    if not any(name in (p.name, dagster_name(p.name)) for p in pipelines):
        pipelines, result = load_pipelines(Path(root))  # not found by the quick look: every module, for the message
        load_errors = result.errors
    try:
        pipeline = find_pipeline(pipelines, name)
    except KeyError as exc:
        if not load_errors:
            raise
        # it may be defined in a module that did not load: say why those failed, not only "no such pipeline"
        raise KeyError(
            f"{PipelineLoadErrors(load_errors).render()}\n{exc.args[0]} It may be defined in a module that did not "
            "load (see above); nothing was run."
        ) from None
    graphs, errors = load_graphs(root, only=(pipeline.name,))
    graph = next((g for g in graphs if g.tool == TOOL and g.name == pipeline.name), None)
    if graph is None:  # e.g. its name clashes with another pipeline's: the code location leaves both out
        own = errors_of(errors, pipeline.name)
        raise KeyError(
            f"{PipelineLoadErrors(own).render()}\nPipeline {pipeline.name!r} did not load (see above); nothing was run."
        )
    select = include_tasks(pipeline, graph, include) if include else []
    values = params_config(pipeline, params or {})
    partitions = pipeline.settings.partitions
    if partitions is not None:
        given = values.pop(partitions.field, None)
        partition = partition or (str(given) if given is not None else None)
        if partition is None:
            raise ParamsError(
                f"Pipeline {pipeline.name} is partitioned by {partitions.field}: pass --partition YYYY-MM-DD "
                f"(or --param {partitions.field}=YYYY-MM-DD)."
            )
    from trakt_dagster.loom.params import build_params

    build_params(pipeline, values, partition)  # a wrong value fails here, before any Dagster run
    op_config: dict[str, Any] = {"params": values}
    if correlation_id:
        op_config["correlation_id"] = correlation_id
    runs_dir = runs_dir or default_runs_dir(Path(root))
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    return launch_job(
        defs,
        graph,
        runs_dir=runs_dir,
        select=select,
        run_config={"ops": {f"{dagster_name(graph.name)}_pipeline": {"config": op_config}}},
        tags=dict(tags or {}),
        instance=instance,
        log_level=log_level,
        partition_key=partition,
    )


def loom_job(root: str, pipeline: str, runs_dir: str) -> dg.JobDefinition:
    """The Dagster job of one loom pipeline under `root` (the reconstructable target of re-executions).

    Example:
        ```python
        args = (root, name, runs_dir)
        job = dg.build_reconstructable_job("trakt_dagster.loom.launch", "loom_job", reconstructable_args=args)
        dg.execute_job(job, instance, reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance))
        ```
    """
    graphs, _ = load_graphs_for(root, pipeline)
    graph = next((g for g in graphs if g.tool == TOOL and g.name == pipeline), None)
    if graph is None:
        raise KeyError(f"No loom pipeline {pipeline!r} under {root}.")
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    return defs.resolve_job_def(dagster_name(graph.name))
