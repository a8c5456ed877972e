"""`build_definitions(root)`: every pipeline under a folder as one Dagster code location."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.builder import build_graph_definitions, check_graph, graph_resources
from trakt_dagster.core.discovery import LoadOptions, discover
from trakt_dagster.core.errors import LoadError, PipelineLoadErrors, SourceLocation
from trakt_dagster.core.graph import Granularity, TaskGraph
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.translator import DagsterTaskGraphTranslator

RUNS_DIR_ENV = "TRAKT_DAGSTER_RUNS_DIR"
LOAD_LOG = logging.getLogger("trakt_dagster.load")
"""Load warnings (unknown keys a tool ignores, settings that have no effect) are logged here."""


def default_runs_dir(root: Path) -> str:
    """`$TRAKT_DAGSTER_RUNS_DIR`, else `<root>/runs`."""
    return os.environ.get(RUNS_DIR_ENV) or str(Path(root).resolve() / "runs")


def load_graphs(
    root: str | os.PathLike[str],
    *,
    strict: bool = True,
    granularity: Granularity | str | None = None,
    translator: DagsterTaskGraphTranslator | None = None,
) -> tuple[list[TaskGraph], list[LoadError]]:
    """Discover and check every pipeline under `root`; returns the graphs and all load errors."""
    translator = translator or DagsterTaskGraphTranslator()
    found = discover(Path(root), LoadOptions(strict=strict))
    errors = list(found.errors)
    for warning in found.warnings:
        LOAD_LOG.warning("warning: %s", warning.render())
    graphs: list[TaskGraph] = []
    wanted = Granularity(granularity) if granularity else None
    for graph in found.graphs:
        problems = check_graph(graph, translator)
        effective = wanted or graph.granularity
        if effective not in graph.allowed_granularities:
            problems.append(
                LoadError(
                    f"Pipeline '{graph.name}' cannot run with granularity '{effective}'.",
                    SourceLocation(graph.source_file, key="dagster.granularity"),
                    "this pipeline must run in one process (e.g. trakt stream mode): use granularity 'pipeline'",
                    graph.tool,
                )
            )
        errors.extend(problems)
        if not problems:
            graphs.append(graph)
    return graphs, errors


def build_definitions(
    root: str | os.PathLike[str],
    *,
    translator: DagsterTaskGraphTranslator | None = None,
    runs_dir: str | None = None,
    strict: bool = True,
    granularity: Granularity | str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> dg.Definitions:
    """Dagster definitions for every pipeline under `root` (`pipelines/`, `projects/`).

    Raises `PipelineLoadErrors` listing every broken pipeline (file, line, key, fix) when any is broken.

    Example:
        ```python
        # definitions.py
        from pathlib import Path
        from trakt_dagster import build_definitions

        defs = build_definitions(Path(__file__).parent)
        ```
    """
    translator = translator or DagsterTaskGraphTranslator()
    graphs, errors = load_graphs(root, strict=strict, granularity=granularity, translator=translator)
    if errors:
        raise PipelineLoadErrors(errors)
    run_storage = RunStorage(runs_dir=runs_dir or default_runs_dir(Path(root)))
    wanted = Granularity(granularity) if granularity else None
    all_resources: dict[str, Any] = {}
    for graph in graphs:
        for key, resource in graph_resources(graph, run_storage, wanted or graph.granularity).items():
            all_resources.setdefault(key, resource)
    all_resources.update(resources or {})
    parts = [
        build_graph_definitions(
            graph,
            translator=translator,
            run_storage=run_storage,
            resources=all_resources,
            granularity=wanted,
            include_resources=False,
        )
        for graph in graphs
    ]
    return dg.Definitions.merge(dg.Definitions(resources=all_resources), *parts)
