"""Discover pipelines of every supported tool under a root folder.

Each front end (`trakt_dagster/<tool>/frontend.py`) exposes `load(root, options) -> FrontEndResult`;
they are imported lazily so a tool's dependencies load only when its front end is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from trakt_dagster.core.errors import LoadError, SourceLocation
from trakt_dagster.core.graph import TaskGraph
from trakt_dagster.core.names import dagster_name

FRONT_ENDS: tuple[str, ...] = (
    "trakt_dagster.trakt.frontend",
    "trakt_dagster.flowrun.frontend",
    "trakt_dagster.pit.frontend",
)


@dataclass(frozen=True)
class LoadOptions:
    """Options every front end honours.

    Example:
        >>> LoadOptions(strict=False).strict
        False
    """

    strict: bool = True


@dataclass
class FrontEndResult:
    """What a front end found: the graphs it could build and every error."""

    graphs: list[TaskGraph] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadError] = field(default_factory=list)
    """Problems that do not stop loading (e.g. unknown keys a tool ignores), logged by `load_graphs`."""


def discover(
    root: Path, options: LoadOptions | None = None, front_ends: tuple[str, ...] = FRONT_ENDS
) -> FrontEndResult:
    """Load the pipelines of every front end under `root`; pipeline names must be unique.

    Example:
        >>> # found = discover(Path(".")); [g.name for g in found.graphs]
    """
    options = options or LoadOptions()
    found = FrontEndResult()
    for module_name in front_ends:
        module = importlib.import_module(module_name)
        result = module.load(Path(root), options)
        found.graphs.extend(result.graphs)
        found.errors.extend(e for e in result.errors if e not in found.errors)  # shared modules: once
        found.warnings.extend(w for w in getattr(result, "warnings", ()) if w not in found.warnings)
    by_name: dict[str, TaskGraph] = {}
    unique: list[TaskGraph] = []
    for graph in found.graphs:
        name = dagster_name(graph.name)
        if name in by_name:
            other = by_name[name]
            found.errors.append(
                LoadError(
                    f"Pipeline name '{graph.name}' ({graph.tool}) is already used by {other.tool} pipeline "
                    f"'{other.name}' ({other.source_file}).",
                    SourceLocation(graph.source_file),
                    "pipeline names become Dagster job and asset names and must be unique: rename one",
                    graph.tool,
                )
            )
            continue
        by_name[name] = graph
        unique.append(graph)
    found.graphs = unique
    return found
