"""`build_definitions(root)`: every pipeline under a folder as one Dagster code location.

A broken pipeline never takes the code location down: by default every pipeline that loads gets its
assets, job, schedules and sensors, and each broken one is a placeholder asset in its group whose
description and metadata carry the errors (also logged on `trakt_dagster.load`). `strict_load=True` raises
on any error instead; so does the default under `dagster definitions validate` / `dg check defs`, and
`$TRAKT_DAGSTER_STRICT_LOAD=1|0` chooses everywhere.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.builder import build_graph_definitions, check_graph, graph_resources
from trakt_dagster.core.discovery import FrontEndResult, LoadOptions, discover
from trakt_dagster.core.errors import LoadError, PipelineLoadErrors, SourceLocation, cut_text
from trakt_dagster.core.graph import Granularity, TaskGraph
from trakt_dagster.core.monitoring import run_folders_sensor
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.retention import RetentionPolicy
from trakt_dagster.core.translator import DagsterTaskGraphTranslator, LoadErrorTranslatorData

RUNS_DIR_ENV = "TRAKT_DAGSTER_RUNS_DIR"
STRICT_LOAD_ENV = "TRAKT_DAGSTER_STRICT_LOAD"
VALIDATION_CLI_ENV = "DAGSTER_IS_DEFS_VALIDATION_CLI"
"""Set to 1 by `dagster definitions validate` and `dg check defs`: loading is strict there by default."""
LOAD_LOG = logging.getLogger("trakt_dagster.load")
"""Load warnings (unknown keys a tool ignores, settings that have no effect) and the errors of pipelines
that did not load are logged here."""


def default_runs_dir(root: Path) -> str:
    """`$TRAKT_DAGSTER_RUNS_DIR`, else `<root>/runs`."""
    return os.environ.get(RUNS_DIR_ENV) or str(Path(root).resolve() / "runs")


def strict_load_default() -> bool:
    """Whether loading is strict when `strict_load` is not given: `$TRAKT_DAGSTER_STRICT_LOAD` (`1`/`true`/`yes`/
    `on`, or `0`/`false`/`no`/`off`) when set, else true under `dagster definitions validate` and `dg check defs`
    (they set `DAGSTER_IS_DEFS_VALIDATION_CLI=1`), so a CI check fails on any broken pipeline.

    Example:
        >>> import os
        >>> os.environ.update({STRICT_LOAD_ENV: "0", VALIDATION_CLI_ENV: "1"}); strict_load_default()
        False
        >>> del os.environ[STRICT_LOAD_ENV], os.environ[VALIDATION_CLI_ENV]; strict_load_default()
        False
    """
    chosen = os.environ.get(STRICT_LOAD_ENV, "").strip().lower()
    if chosen:
        return chosen in ("1", "true", "yes", "on")
    return os.environ.get(VALIDATION_CLI_ENV, "") == "1"


def default_run_storage(
    root: Path, runs_dir: str | None = None, retention: RetentionPolicy | None = None
) -> RunStorage:
    """The root's `trakt_run_storage`: `runs_dir` (else `default_runs_dir`) and the root default retention."""
    retention = retention or RetentionPolicy()
    return RunStorage(
        runs_dir=runs_dir or default_runs_dir(Path(root)),
        keep_runs=retention.keep_runs,
        keep_days=retention.keep_days,
        keep_artifacts=list(retention.keep_artifacts) if retention.keep_artifacts is not None else None,
    )


def load_graphs(
    root: str | os.PathLike[str],
    *,
    strict: bool = True,
    granularity: Granularity | str | None = None,
    translator: DagsterTaskGraphTranslator | None = None,
    only: Iterable[str] | None = None,
) -> tuple[list[TaskGraph], list[LoadError]]:
    """Discover and check every pipeline under `root`; returns the graphs that load and every load error
    (warnings are logged on `trakt_dagster.load`).

    `strict` is the tools' own validation (trakt's strict unknown-key check); each error names the
    pipeline it belongs to (`LoadError.pipeline`). `only` (names, as written or as Dagster names) loads just
    those pipelines and their errors, plus any other pipeline of the same Dagster name (both are then
    reported); a run of one pipeline uses it to skip the work of every other (see `LoadOptions.only`).

    Example:
        >>> # graphs, errors = load_graphs("."); broken = {e.pipeline for e in errors}
    """
    report = load_report(root, strict=strict, granularity=granularity, translator=translator, only=only)
    for warning in report.warnings:
        LOAD_LOG.warning("warning: %s", warning.render())
    return report.graphs, report.errors


def load_report(
    root: str | os.PathLike[str],
    *,
    strict: bool = True,
    granularity: Granularity | str | None = None,
    translator: DagsterTaskGraphTranslator | None = None,
    only: Iterable[str] | None = None,
) -> FrontEndResult:
    """What `load_graphs` finds, with the warnings returned instead of logged (for `trakt-dagster validate`).

    Example:
        >>> # report = load_report("."); print(len(report.graphs), len(report.errors), len(report.warnings))
    """
    translator = translator or DagsterTaskGraphTranslator()
    wanted_names = frozenset(only) if only is not None else None
    found = discover(Path(root), LoadOptions(strict=strict, only=wanted_names))
    errors = list(found.errors)
    graphs: list[TaskGraph] = []
    wanted = Granularity(granularity) if granularity else None
    for graph in found.graphs:
        try:
            problems = check_graph(graph, translator)
        except Exception as exc:  # noqa: BLE001 - a custom translator that raises breaks only its pipeline
            problems = [_build_failure(graph, exc, "checking")]
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
        errors.extend(p if p.pipeline else p.for_pipeline(graph.name) for p in problems)
        if not problems:
            graphs.append(graph)
    return FrontEndResult(graphs=graphs, errors=errors, warnings=found.warnings)


def load_graphs_for(root: str | os.PathLike[str], name: str, **options: Any) -> tuple[list[TaskGraph], list[LoadError]]:
    """`load_graphs` for a run of the pipeline `name`: only that pipeline (and any other of the same Dagster
    name, so a collision is still reported) is loaded. When it is not found that way (its name is built in
    another module than the one defining it, or it does not exist), everything is loaded, so the caller can
    list every pipeline and error. `options` are `load_graphs`' keyword arguments.

    Example:
        >>> # graphs, errors = load_graphs_for(".", "sales")
    """
    from trakt_dagster.core.errors import errors_of
    from trakt_dagster.core.names import dagster_name

    graphs, errors = load_graphs(root, only=(name,), **options)
    if errors_of(errors, name) or any(name in (g.name, dagster_name(g.name)) for g in graphs):
        return graphs, errors
    return load_graphs(root, **options)


def _build_failure(graph: TaskGraph, exc: BaseException, doing: str) -> LoadError:
    return LoadError(
        f"Pipeline '{graph.name}' failed while {doing} its Dagster definitions: {type(exc).__name__}: "
        f"{cut_text(str(exc), 400)}",
        SourceLocation(graph.source_file),
        "fix the setting named in the message (e.g. a schedule's cron or time zone)",
        graph.tool,
        pipeline=graph.name,
    )


def _definition_names(defs: dg.Definitions) -> Iterable[tuple[str, str]]:
    """(kind, name) of everything in `defs` that must be unique in a code location."""
    for asset in defs.assets or ():
        if isinstance(asset, dg.AssetSpec):
            yield "asset", asset.key.to_user_string()
        elif isinstance(asset, dg.AssetsDefinition):
            for key in asset.keys:
                yield "asset", key.to_user_string()
            for check_key in asset.check_keys:
                yield "asset check", check_key.to_user_string()
            yield "op", asset.node_def.name
    for job in defs.jobs or ():
        yield "job", job.name
    for schedule in defs.schedules or ():
        yield "schedule", schedule.name
    for sensor in defs.sensors or ():
        yield "sensor", sensor.name
    for check in defs.asset_checks or ():
        for check_key in getattr(check, "check_keys", ()):
            yield "asset check", check_key.to_user_string()


def _definition_clashes(parts: list[tuple[TaskGraph, dg.Definitions]]) -> dict[int, list[LoadError]]:
    """Errors of pipelines whose definitions share a name with another's (both are left out)."""
    owners: dict[tuple[str, str], list[int]] = {}
    for index, (_, defs) in enumerate(parts):
        for item in dict.fromkeys(_definition_names(defs)):
            owners.setdefault(item, []).append(index)
    found: dict[int, list[LoadError]] = {}
    for (kind, name), indexes in owners.items():
        if len(indexes) < 2:
            continue
        for index in indexes:
            graph = parts[index][0]
            others = ", ".join(f"'{parts[i][0].name}'" for i in indexes if i != index)
            found.setdefault(index, []).append(
                LoadError(
                    f"Pipeline '{graph.name}' and pipeline {others} both define the Dagster {kind} '{name}': "
                    "neither is loaded.",
                    SourceLocation(graph.source_file),
                    f"give the {kind} a name of its own in one of them",
                    graph.tool,
                    pipeline=graph.name,
                )
            )
    return found


def _placeholders(
    errors: list[LoadError], translator: DagsterTaskGraphTranslator, taken: set[dg.AssetKey]
) -> list[dg.AssetSpec]:
    by_pipeline: dict[str, list[LoadError]] = {}
    for error in errors:
        by_pipeline.setdefault(error.pipeline or error.tool or "load_errors", []).append(error)
    specs = []
    for pipeline, found in by_pipeline.items():
        spec = translator.get_load_error_spec(LoadErrorTranslatorData(pipeline, tuple(found)))
        key, suffix = spec.key, 2
        while key in taken:  # only a custom translator can clash with a real asset
            key = dg.AssetKey([*spec.key.path[:-1], f"{spec.key.path[-1]}-{suffix}"])
            suffix += 1
        taken.add(key)
        specs.append(spec.replace_attributes(key=key) if key != spec.key else spec)
    return specs


def load_error_definitions(
    errors: list[LoadError], translator: DagsterTaskGraphTranslator | None = None
) -> dg.Definitions:
    """Placeholder assets (one per broken pipeline) for `errors`, logged like `build_definitions` does.

    Example:
        >>> defs = load_error_definitions([LoadError("bad", pipeline="sales")])
        >>> [k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()]
        ['sales/load-error']
    """
    _log_broken(errors)
    return dg.Definitions(assets=_placeholders(errors, translator or DagsterTaskGraphTranslator(), set()))


def _log_broken(errors: list[LoadError]) -> None:
    by_pipeline: dict[str, list[LoadError]] = {}
    for error in errors:
        by_pipeline.setdefault(error.pipeline or "load_errors", []).append(error)
    for pipeline, found in by_pipeline.items():
        LOAD_LOG.error(
            "pipeline '%s' did not load (%d error%s); the other pipelines are loaded:\n%s",
            pipeline,
            len(found),
            "s" if len(found) != 1 else "",
            PipelineLoadErrors(found[:50]).render(),
        )


def build_definitions(
    root: str | os.PathLike[str],
    *,
    translator: DagsterTaskGraphTranslator | None = None,
    runs_dir: str | None = None,
    strict: bool = True,
    granularity: Granularity | str | None = None,
    resources: Mapping[str, Any] | None = None,
    strict_load: bool | None = None,
    retention: RetentionPolicy | None = None,
    tools: Iterable[str] | None = None,
    adjust: Callable[[TaskGraph], TaskGraph] | None = None,
) -> dg.Definitions:
    """Dagster definitions for every pipeline under `root` (`pipelines/`, `projects/`).

    Every pipeline that loads gets its assets, job, schedules and sensors. A broken pipeline is left out and
    shown as one external asset `<pipeline>/load-error` in its group, whose description and metadata carry
    every error (file, line, key, fix); the errors are also logged on `trakt_dagster.load`.
    `strict_load=True` raises `PipelineLoadErrors` instead (default: `strict_load_default()`, i.e.
    `$TRAKT_DAGSTER_STRICT_LOAD`, else strict only under `dagster definitions validate` / `dg check defs`).
    `strict` is trakt's own strict/lenient validation of unknown keys, not this.
    `retention` is the root default of run folder retention (see `RetentionPolicy`); each pipeline's own
    setting wins over it. `tools` keeps only the
    pipelines (and load errors) of those tools; `adjust(graph) -> graph` changes each graph before it is built
    (the Components apply their attributes with it).

    Example:
        ```python
        # definitions.py
        from pathlib import Path
        from trakt_dagster import build_definitions

        defs = build_definitions(Path(__file__).parent)                     # broken pipelines isolated
        # defs = build_definitions(Path(__file__).parent, strict_load=True)  # raise on any error
        ```
    """
    with collector_paused():
        return _build_definitions(
            root,
            translator=translator,
            runs_dir=runs_dir,
            strict=strict,
            granularity=granularity,
            resources=resources,
            strict_load=strict_load,
            retention=retention,
            tools=tools,
            adjust=adjust,
        )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a load builds; its objects then go to the oldest generation.

    A load creates hundreds of thousands of objects that live as long as the code location; with the
    collector on, its passes over them while they are being built cost a fifth of a large load (and grow
    with the pipelines loaded). Paused, the load's objects are then moved to the oldest generation as one
    block (`promote_young_objects`), where a normal run's survivors would be too, without a pass that would
    look at each of them once more (a tenth of a large load). Nested or concurrent loads leave the collector
    on when any of them found it on.

    Example:
        >>> with collector_paused():
        ...     gc.isenabled()
        False
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
            promote_young_objects()


_FROZEN_AT_IMPORT = gc.get_freeze_count()


def promote_young_objects() -> None:
    """Move every object of the collector's young generations to its oldest one, unexamined.

    `gc.freeze()` then `gc.unfreeze()` does exactly that: the objects join the oldest generation, which full
    collections examine as before, so garbage among them is still collected, at the next full collection
    instead of now (a load leaves none: its objects are definitions, kept while the code location lives).
    Objects someone else froze since this module was imported (a server that freezes before it forks) must
    stay frozen, so then the young generations are collected instead, as a normal run would.

    Example:
        >>> frozen_before = gc.get_freeze_count()
        >>> young = [[] for _ in range(3)]
        >>> promote_young_objects()
        >>> gc.get_count()[0] < 3 and gc.get_freeze_count() <= frozen_before
        True
    """
    if gc.get_freeze_count() <= _FROZEN_AT_IMPORT:
        gc.freeze()
        gc.unfreeze()
    else:
        gc.collect(1)


def _build_definitions(
    root: str | os.PathLike[str],
    *,
    translator: DagsterTaskGraphTranslator | None,
    runs_dir: str | None,
    strict: bool,
    granularity: Granularity | str | None,
    resources: Mapping[str, Any] | None,
    strict_load: bool | None,
    retention: RetentionPolicy | None,
    tools: Iterable[str] | None,
    adjust: Callable[[TaskGraph], TaskGraph] | None,
) -> dg.Definitions:
    strict_load = strict_load_default() if strict_load is None else strict_load
    translator = translator or DagsterTaskGraphTranslator()
    graphs, errors = load_graphs(root, strict=strict, granularity=granularity, translator=translator)
    if tools is not None:
        wanted_tools = set(tools)
        graphs = [g for g in graphs if g.tool in wanted_tools]
        errors = [e for e in errors if e.tool in wanted_tools or e.tool is None]
    if adjust is not None:
        graphs = [adjust(graph) for graph in graphs]
    if errors and strict_load:
        raise PipelineLoadErrors(errors)
    run_storage = default_run_storage(Path(root), runs_dir, retention)
    wanted = Granularity(granularity) if granularity else None
    all_resources: dict[str, Any] = {}
    for graph in graphs:
        for key, resource in graph_resources(graph, run_storage, wanted or graph.granularity).items():
            all_resources.setdefault(key, resource)
    all_resources.update(resources or {})
    parts: list[tuple[TaskGraph, dg.Definitions]] = []
    for graph in graphs:
        try:
            part = build_graph_definitions(
                graph,
                translator=translator,
                run_storage=run_storage,
                resources=all_resources,
                granularity=wanted,
                include_resources=False,
            )
        except Exception as exc:  # noqa: BLE001 - e.g. a cron Dagster rejects: only this pipeline is out
            errors.append(_build_failure(graph, exc, "building"))
            continue
        parts.append((graph, part))
    clashes = _definition_clashes(parts)
    for found in clashes.values():
        errors.extend(found)
    parts = [part for index, part in enumerate(parts) if index not in clashes]
    if errors and strict_load:
        raise PipelineLoadErrors(errors)
    base = Path(run_storage.runs_dir)
    extra = dg.Definitions(sensors=[run_folders_sensor({g.name: base / dagster_name(g.name) for g, _ in parts})])
    return _merge(parts, all_resources, errors, translator, strict_load, extra)


def _asset_keys(parts: list[tuple[TaskGraph, dg.Definitions]]) -> set[dg.AssetKey]:
    keys: set[dg.AssetKey] = set()
    for _, defs in parts:
        for asset in defs.assets or ():
            keys.update([asset.key] if isinstance(asset, dg.AssetSpec) else getattr(asset, "keys", ()))
    return keys


def _merge(
    parts: list[tuple[TaskGraph, dg.Definitions]],
    resources: dict[str, Any],
    errors: list[LoadError],
    translator: DagsterTaskGraphTranslator,
    strict_load: bool,
    extra: dg.Definitions,
) -> dg.Definitions:
    """Merge with the placeholders and resolve once (Dagster keeps the result). Should resolving still fail,
    the pipelines whose definitions do not resolve on their own are left out too."""
    try:
        return _resolved(parts, resources, errors, translator, extra)
    except Exception:  # noqa: BLE001 - find the pipelines responsible and keep the others
        pass
    kept = []
    for graph, defs in parts:
        try:
            dg.Definitions.merge(dg.Definitions(resources=resources), defs).get_repository_def()
            kept.append((graph, defs))
        except Exception as exc:  # noqa: BLE001
            errors.append(_build_failure(graph, exc, "resolving"))
    if errors and strict_load:
        raise PipelineLoadErrors(errors)
    return _resolved(kept, resources, errors, translator, extra)


def _resolved(
    parts: list[tuple[TaskGraph, dg.Definitions]],
    resources: dict[str, Any],
    errors: list[LoadError],
    translator: DagsterTaskGraphTranslator,
    extra: dg.Definitions,
) -> dg.Definitions:
    placeholders = _placeholders(errors, translator, _asset_keys(parts))
    merged = dg.Definitions.merge(
        dg.Definitions(resources=resources, assets=placeholders), extra, *(defs for _, defs in parts)
    )
    merged.get_repository_def()
    if errors:
        _log_broken(errors)
    return merged
