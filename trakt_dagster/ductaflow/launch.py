"""Run ductaflow notebooks through Dagster from Python or the command line (`trakt-dagster ductaflow ...`).

A selection of partitions becomes as few runs as possible: Dagster runs a contiguous range of a static
partition set in one run (the notebook's op then runs the range's instances in parallel), so the whole
grid is one run and a scattered selection one run per contiguous stretch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.builder import build_graph_definitions, check_graph
from trakt_dagster.core.definitions import default_runs_dir
from trakt_dagster.core.discovery import clashes_with
from trakt_dagster.core.errors import LoadError
from trakt_dagster.core.graph import TaskGraph
from trakt_dagster.core.launch import RunOutcome, launch_job, open_instance
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.translator import DagsterTaskGraphTranslator
from trakt_dagster.ductaflow.frontend import load_projects
from trakt_dagster.ductaflow.model import Conductor, DuctaflowProject, Notebook
from trakt_dagster.ductaflow.runtime import REPORT_KEY, asset_key, observe_configs
from trakt_dagster.ductaflow.translate import build_notebook_graph

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


class LaunchError(ValueError):
    """A notebook, instance or scenario that does not exist (the message lists what does)."""


@dataclass
class Target:
    """A notebook resolved for a launch: its project, its graph and its Dagster definitions."""

    project: DuctaflowProject
    notebook: Notebook
    graph: TaskGraph
    defs: dg.Definitions
    runs_dir: str
    errors: list[LoadError] = field(default_factory=list)

    @property
    def op_name(self) -> str:
        return f"{dagster_name(self.graph.name)}_pipeline"

    @property
    def asset_key(self) -> dg.AssetKey:
        return asset_key(self.project, self.notebook.name)

    def partition_of(self, name: str) -> str:
        """The partition key of an instance or scenario, by key or by name."""
        for instance in self.notebook.instances:
            if name in (instance.key, instance.name):
                return instance.key
        known = ", ".join(i.name for i in self.notebook.instances)
        raise LaunchError(f"{self.notebook.kind} '{self.notebook.name}' has no instance '{name}'. Instances: {known}")


def resolve(root: Path, name: str, project_name: str | None = None) -> Target:
    """The notebook called `name` (`<project>/<name>` or just `<name>` when unique) under `root`."""
    if "/" in name and project_name is None:
        project_name, name = name.split("/", 1)
    projects, result = load_projects(root)
    found = [(p, n) for p in projects for n in p.notebooks if n.name == name and project_name in (None, p.name)]
    if not found:
        known = ", ".join(f"{p.name}/{n.name}" for p in projects for n in p.notebooks) or "(none)"
        raise LaunchError(f"no ductaflow flow or build '{name}' under {Path(root).resolve()}. Known: {known}")
    if len(found) > 1:
        names = ", ".join(f"{p.name}/{n.name}" for p, n in found)
        raise LaunchError(f"'{name}' is in several projects ({names}): write <project>/{name}")
    project, notebook = found[0]
    graph = build_notebook_graph(project, notebook)
    problems = check_graph(graph, DagsterTaskGraphTranslator()) or clashes_with(Path(root), "ductaflow", [graph])
    if problems:
        raise LaunchError("\n".join(p.render() for p in problems))
    runs_dir = default_runs_dir(Path(root))
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    return Target(project, notebook, graph, defs, runs_dir, errors=list(result.errors))


def resolve_conductor(root: Path, name: str | None) -> tuple[Conductor, Target]:
    """A conductor (by file stem; the only one when `name` is None) and its target notebook."""
    projects, _ = load_projects(root)
    conductors = [(p, c) for p in projects for c in p.conductors if name in (None, c.name, f"{p.name}/{c.name}")]
    if not conductors:
        known = ", ".join(f"{p.name}/{c.name}" for p in projects for c in p.conductors) or "(none)"
        raise LaunchError(f"no conductor {name or ''} found. Conductors: {known}".replace("  ", " "))
    if len(conductors) > 1:
        names = ", ".join(f"{p.name}/{c.name}" for p, c in conductors)
        raise LaunchError(f"several conductors ({names}): name one")
    project, conductor = conductors[0]
    return conductor, resolve(root, conductor.target[1], project.name)


def contiguous_ranges(all_keys: Sequence[str], wanted: Sequence[str]) -> list[tuple[str, str]]:
    """The fewest (start, end) ranges of `all_keys` that cover exactly `wanted`.

    Example:
        >>> contiguous_ranges(["a", "b", "c", "d"], ["a", "b", "d"])
        [('a', 'b'), ('d', 'd')]
    """
    chosen = set(wanted)
    ranges: list[tuple[str, str]] = []
    start = previous = None
    for key in all_keys:
        if key in chosen:
            start = start or key
            previous = key
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    return ranges


@dataclass
class ConductRun:
    """What one launch left: the Dagster runs and every instance's outcome."""

    runs: list[RunOutcome] = field(default_factory=list)
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.runs)


def run_target(
    target: Target,
    *,
    partitions: Sequence[str] | None = None,
    op_config: Mapping[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO",
) -> ConductRun:
    """Run the target's notebook for `partitions` (all when None; ignored when unpartitioned)."""
    run_config = {"ops": {target.op_name: {"config": dict(op_config or {})}}} if op_config else {}
    outcome = ConductRun()
    own = instance is None
    instance = instance or open_instance()
    try:
        if target.notebook.partitioned:
            keys = [i.key for i in target.notebook.instances]
            wanted = keys if partitions is None else [k for k in keys if k in set(partitions)]
            groups = contiguous_ranges(keys, wanted)
        else:
            groups = [None]
        for group in groups:
            tags = {RANGE_START: group[0], RANGE_END: group[1]} if group else {}
            run = launch_job(
                target.defs,
                target.graph,
                runs_dir=target.runs_dir,
                run_config=run_config,
                tags=tags,
                instance=instance,
                log_level=log_level,
            )
            outcome.runs.append(run)
            report = (run.manifest or {}).get(REPORT_KEY, {})
            outcome.instances.update(report.get("instances", {}))
    finally:
        if own:
            instance.dispose()
    order = {i.key: n for n, i in enumerate(target.notebook.instances)}
    outcome.instances = dict(sorted(outcome.instances.items(), key=lambda item: order.get(item[0], len(order))))
    return outcome


def changed_partitions(target: Target, instance: dg.DagsterInstance) -> list[str]:
    """Partitions Dagster sees as missing or stale (configs are observed first, so edits count)."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._time import get_current_datetime

    notebook = target.notebook
    if notebook.partitioned:
        observe_configs(instance, asset_key(target.project, notebook.config_asset_name), list(notebook.instances))
    graph = target.defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance, graph, view)
    keys = [i.key for i in notebook.instances] if notebook.partitioned else [None]
    wanted = [StaleStatus.MISSING, StaleStatus.STALE]
    return [k for k in keys if resolver.get_status(target.asset_key, k) in wanted]  # type: ignore[arg-type]
