"""flowrun's run entry points on Dagster: `run_once` / `run_subgraph` as a run, `resume` as a re-execution.

Example:
    ```python
    from trakt_dagster.flowrun.launch import resume_run, run_dag

    first = run_dag(".", "orders", metadata={"batch_id": "2026-04-01"})        # Engine.run_once
    part = run_dag(".", "orders", targets=["summary"])                          # run_subgraph
    again = resume_run(".", first.run_id, from_tasks=["summary"])               # resume (needs DAGSTER_HOME)
    ```
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.definitions import default_runs_dir, load_graphs_for
from trakt_dagster.core.errors import LoadError, PipelineLoadErrors, errors_of
from trakt_dagster.core.graph import TaskGraph
from trakt_dagster.core.instance import prepare_dagster_home
from trakt_dagster.core.launch import RunOutcome, launch_job
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.flowrun.runtime import FROM_TASKS_TAG, metadata_tags

TOOL = "flowrun"


def find_dag(graphs: Sequence[TaskGraph], name: str, errors: Sequence[LoadError] = ()) -> TaskGraph:
    """The flowrun graph named `name`; else its load errors, else flowrun's error:
    `DAG 'x' is not registered. Did you mean ...?`"""
    flowrun_graphs = [g for g in graphs if g.tool == TOOL]
    for graph in flowrun_graphs:
        if name in (graph.name, dagster_name(graph.name)):
            return graph
    own = errors_of(errors, name)
    if own:
        raise KeyError(f"{PipelineLoadErrors(own).render()}\nDAG {name!r} did not load (see above); nothing was run.")
    names = sorted(g.name for g in flowrun_graphs)
    message = f"DAG {name!r} is not registered."
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    message += f" Available DAGs: {', '.join(names) or '(none)'}."
    unloaded = [e for e in errors if e.tool in (TOOL, None)]
    if unloaded:  # it may be defined in a module that did not load: say why those failed
        message = (
            f"{PipelineLoadErrors(unloaded).render()}\n{message} It may be defined in a module that did not load "
            "(see above); nothing was run."
        )
    raise KeyError(message)


def flowrun_job(root: str, dag_name: str, runs_dir: str) -> dg.JobDefinition:
    """The Dagster job of one flowrun DAG under `root` (the reconstructable target of re-executions)."""
    graphs, errors = load_graphs_for(root, dag_name)
    graph = find_dag(graphs, dag_name, errors)
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    return defs.resolve_job_def(dagster_name(graph.name))


def run_dag(
    root: str | os.PathLike[str],
    dag_name: str,
    *,
    targets: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
    runs_dir: str | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO",
) -> RunOutcome:
    """One Dagster run of a flowrun DAG (`targets`: those tasks and their ancestors, as `run_subgraph`)."""
    graphs, errors = load_graphs_for(root, dag_name)
    graph = find_dag(graphs, dag_name, errors)
    runs_dir = runs_dir or default_runs_dir(Path(root))
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    return launch_job(
        defs,
        graph,
        runs_dir=runs_dir,
        select=targets,
        tags=metadata_tags(metadata or {}),
        instance=instance,
        log_level=log_level,
    )


def resume_run(
    root: str | os.PathLike[str],
    run_id: str,
    *,
    from_tasks: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
    runs_dir: str | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str | None = None,
) -> RunOutcome:
    """flowrun's `resume(run_id, from_tasks=..., context=...)`: a Dagster re-execution of `run_id` that
    re-runs what did not succeed (plus `from_tasks` and their descendants) and reloads the other results
    from the run's folder. Needs the instance that holds the run (`$DAGSTER_HOME`). `log_level`: of Dagster's
    console log (default: the parent run's)."""
    own = instance is None
    if own:
        if not os.environ.get("DAGSTER_HOME"):
            raise RuntimeError("resume needs the Dagster instance that holds the run: set DAGSTER_HOME")
        prepare_dagster_home()
        instance = dg.DagsterInstance.get()
    try:
        parent = instance.get_run_by_id(run_id)
        if parent is None:
            raise KeyError(f"No run {run_id!r} in the Dagster instance.")
        root = str(Path(root).resolve())
        runs_dir = runs_dir or default_runs_dir(Path(root))
        job = dg.build_reconstructable_job(
            "trakt_dagster.flowrun.launch", "flowrun_job", reconstructable_args=(root, parent.job_name, runs_dir)
        )
        tags = dict(metadata_tags(metadata or {}))
        if from_tasks:
            tags[FROM_TASKS_TAG] = ",".join(from_tasks)
        run_config = {**(parent.run_config or {}), "execution": {"config": {"in_process": {}}}}
        if log_level is not None:
            run_config["loggers"] = {"console": {"config": {"log_level": log_level}}}
        options = dg.ReexecutionOptions(parent_run_id=run_id, step_selection=[f"{parent.job_name}_pipeline"])
        with dg.execute_job(job, instance, run_config=run_config, tags=tags, reexecution_options=options) as result:
            new_id, success = result.run_id, result.success
    finally:
        if own:
            instance.dispose()
    manifest_path = Path(runs_dir) / parent.job_name / new_id / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    return RunOutcome(new_id, success, manifest_path, manifest)
