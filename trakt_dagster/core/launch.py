"""Run one pipeline through Dagster from Python or the command line and report the outcome."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.execution import run_folder_path
from trakt_dagster.core.graph import TaskGraph
from trakt_dagster.core.instance import prepare_dagster_home
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.progress import print_progress


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run left: its id, status and manifest.

    Example:
        >>> # outcome = launch_job(defs, graph); print(outcome.run_id, outcome.status)
    """

    run_id: str
    success: bool
    manifest_path: Path
    manifest: Mapping[str, Any] | None

    @property
    def status(self) -> str:
        return "SUCCESS" if self.success else "FAILURE"


def open_instance() -> dg.DagsterInstance:
    """The instance at `$DAGSTER_HOME` when set (prepared once first, see `core.instance`), else an
    ephemeral one."""
    if os.environ.get("DAGSTER_HOME"):
        prepare_dagster_home()
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def select_asset_keys(defs: dg.Definitions, graph: TaskGraph, names: Sequence[str]) -> list[dg.AssetKey]:
    """Asset keys for task names: a task key, or the asset name it is shown as (step id, dataset)."""
    job = defs.resolve_job_def(dagster_name(graph.name))
    keys_by_name: dict[str, dg.AssetKey] = {}
    for key in job.asset_layer.asset_graph.get_all_asset_keys():
        spec_meta = job.asset_layer.asset_graph.get(key).metadata
        task = spec_meta.get("trakt/task")
        if task is not None:
            keys_by_name[str(task.value if hasattr(task, "value") else task)] = key
            keys_by_name.setdefault(key.path[-1], key)
    selected: list[dg.AssetKey] = []
    for name in names:
        if name not in keys_by_name:
            known = ", ".join(sorted(k for k in keys_by_name if ":" not in k))
            raise KeyError(f"Pipeline '{graph.name}' has no task '{name}'. Tasks: {known}")
        selected.append(keys_by_name[name])
    return selected


def launch_job(
    defs: dg.Definitions,
    graph: TaskGraph,
    *,
    runs_dir: str,
    select: Sequence[str] = (),
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO",
    partition_key: str | None = None,
    progress: bool = False,
) -> RunOutcome:
    """Execute the pipeline's job in this process and read back its manifest (`progress`: print each
    task's start and end to stderr, see `core.progress.print_progress`)."""
    job = defs.resolve_job_def(dagster_name(graph.name))
    config = dict(run_config or {})
    config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    asset_selection = select_asset_keys(defs, graph, select) if select else None
    own_instance = instance is None
    instance = instance or open_instance()
    printing = print_progress() if progress else nullcontext()
    try:
        with printing:
            result = job.execute_in_process(
                run_config=config,
                instance=instance,
                raise_on_error=False,
                tags=dict(tags or {}),
                asset_selection=asset_selection,
                partition_key=partition_key,
            )
    finally:
        if own_instance:
            instance.dispose()
    manifest_path = run_folder_path(runs_dir, graph, result.run_id) / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    return RunOutcome(result.run_id, result.success, manifest_path, manifest)
