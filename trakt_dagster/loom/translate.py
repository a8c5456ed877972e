"""Loom pipelines → neutral `TaskGraph`s: one asset per step, keyed by what it writes.

* A step writing a table is the asset of that table (`IntoTable("raw.orders")` → `raw/orders`), a step
  writing a file the asset of that file; a table several steps write is one asset (`ReportDataset`)
  with the writers as helper tasks. Steps writing temps (and client / external targets) are helper tasks,
  never assets: a temp's writer runs whenever a selected step reads the temp.
* Dependencies follow loom's plan (a step comes after the previous node of its process, a process's first
  node after the previous pipeline node) and its lineage (a step reading a table or temp an earlier step
  writes). Sources no loom pipeline writes are external assets; a table another pipeline writes links to
  that pipeline's asset.
* Group = pipeline, the process is the tag `trakt/loom_process`, kinds `loom`, `polars` and the format,
  descriptions from the step classes' docstrings, code references to their definitions.

Every graph has one helper task more, `ETLRunner.run`, which every step's task depends on: it makes the one
`run` call of the Dagster run (see `runtime`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trakt_dagster.core.errors import LoadError, SourceLocation, unexpected_error
from trakt_dagster.core.graph import (
    CronTrigger,
    ExternalDataset,
    FailurePolicy,
    Granularity,
    OpRetries,
    SnapshotSpec,
    Task,
    TaskGraph,
    TaskRole,
)
from trakt_dagster.core.metadata import TableMetadataSet, json_list
from trakt_dagster.core.names import dagster_name
from trakt_dagster.loom.metadata import LoomPipelineMetadataSet, LoomStepMetadataSet
from trakt_dagster.loom.model import Dataset, DatasetKind, LoomPipeline, LoomStep
from trakt_dagster.loom.params import run_config_class
from trakt_dagster.loom.resource import LOOM_RUNNER_KEY, LoomRunnerResource
from trakt_dagster.loom.runtime import RUN_TASK, make_session_factory
from trakt_dagster.loom.targets import dataset_uri
from trakt_dagster.loom.tasks import AwaitStep, ReportDataset, StartLoomRun

TOOL = "loom"
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".sql", ".md", ".toml", ".cfg", ".ini", ".txt")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
_FORMAT_KINDS = {"delta": "delta", "csv": "csv", "parquet": "parquet", "json": "json", "xlsx": "excel"}


@dataclass
class Catalog:
    """Which pipeline owns (writes) each table / file asset, and which pipeline declares each external one."""

    owners: dict[tuple[str, ...], str] = field(default_factory=dict)
    externals: dict[tuple[str, ...], str] = field(default_factory=dict)


def build_catalog(pipelines: Iterable[LoomPipeline]) -> tuple[Catalog, list[LoadError]]:
    """Assign every table / file to the first pipeline (in load order) writing it; warn about the others."""
    catalog = Catalog()
    warnings: list[LoadError] = []
    ordered = list(pipelines)
    for pipeline in ordered:
        for step in pipeline.steps:
            target = step.target
            if target is None or target.asset_key is None:
                continue
            owner = catalog.owners.setdefault(target.asset_key, pipeline.name)
            if owner != pipeline.name:
                warnings.append(
                    LoadError(
                        f"{target.label} is written by pipelines {owner} and {pipeline.name}; it is the asset of "
                        f"{owner}, so {pipeline.name}'s step {step.name} writes it without a Dagster "
                        "materialization.",
                        SourceLocation(step.module_path or pipeline.module_path, step.line, step.qualname),
                        "a Dagster asset is produced by one pipeline: keep one writer, or accept that the other "
                        "run's writes show only in its logs and manifest",
                        TOOL,
                        pipeline=pipeline.name,
                    )
                )
    for pipeline in ordered:
        for step in pipeline.steps:
            for source in step.sources:
                key = source.dataset.asset_key
                if key is not None and key not in catalog.owners:
                    catalog.externals.setdefault(key, pipeline.name)
    return catalog, warnings


def build_loom_graph(pipeline: LoomPipeline, catalog: Catalog | None = None) -> TaskGraph:
    """The task graph of one loom pipeline.

    Example:
        >>> # pipelines, result = load_pipelines(root); catalog, _ = build_catalog(pipelines)
        >>> # graph = build_loom_graph(pipelines[0], catalog)
    """
    if catalog is None:
        catalog, _ = build_catalog([pipeline])
    steps = pipeline.steps
    writers: dict[tuple[str, ...], list[LoomStep]] = {}
    for step in steps:
        if step.target is not None and step.target.asset_key is not None:
            writers.setdefault(step.target.asset_key, []).append(step)
    owned = {key for key, owner in catalog.owners.items() if owner == pipeline.name}
    shared = {key: ws for key, ws in writers.items() if len(ws) > 1 and key in owned}
    ancestors = _ancestors(steps)
    index = {step.key: i for i, step in enumerate(steps)}
    externals: dict[tuple[str, ...], ExternalDataset] = {}
    tasks: list[Task] = [
        Task(
            key=RUN_TASK,
            run=StartLoomRun(pipeline),
            is_asset=False,
            description=f"loom's ETLRunner.run({pipeline.name}, ...): the one call that runs the selected steps",
            source=SourceLocation(pipeline.module_path, pipeline.line, pipeline.qualname),
        )
    ]
    aggregate_after: dict[str, list[Task]] = {}
    for key, ws in shared.items():
        dataset = ws[0].target
        assert dataset is not None
        aggregate = Task(
            key=f"{dataset.kind}:{dataset.ref}",
            label=f"{dataset.kind} {dataset.ref}",
            run=ReportDataset(pipeline, dataset, tuple(w.key for w in ws)),
            deps=tuple(w.key for w in ws),
            role=TaskRole.OUTPUT,
            asset_key=key,
            description=f"{dataset.label}, written by {', '.join(w.name for w in ws)}",
            kinds=_kinds(dataset),
            metadata=_dataset_metadata(pipeline, dataset),
            source=SourceLocation(pipeline.module_path, pipeline.line, pipeline.qualname),
        )
        last = max(ws, key=lambda w: index[w.key])
        aggregate_after.setdefault(last.key, []).append(aggregate)
    for step in steps:
        deps: list[str] = [RUN_TASK, *step.plan_deps]
        pulls: list[str] = [RUN_TASK]
        external_deps: list[str] = []
        asset_deps: list[str] = []
        for source in step.sources:
            dataset = source.dataset
            earlier = [
                w
                for w in _writers_of(steps, dataset)
                if index[w.key] < index[step.key] and w.key in ancestors[step.key]
            ]
            if earlier:
                key = dataset.asset_key
                if key in shared and all(w.key in ancestors[step.key] for w in shared[key]):
                    deps.append(f"{dataset.kind}:{dataset.ref}")
                else:
                    deps.extend(w.key for w in earlier)
                if dataset.kind is DatasetKind.TEMP:
                    pulls.extend(w.key for w in earlier)  # a temp exists only if its writer runs (RUN scope)
                continue
            if dataset.asset_key is None or any(w.key == step.key for w in _writers_of(steps, dataset)):
                continue
            if dataset.asset_key in writers and dataset.asset_key in owned:
                continue  # written later in this pipeline: the previous run's table, not a dependency
            if catalog.externals.get(dataset.asset_key) == pipeline.name:
                externals.setdefault(dataset.asset_key, _external(pipeline, dataset))
                external_deps.append(dataset.ref)
            else:
                asset_deps.append("/".join(dagster_name(part) for part in dataset.asset_key))
        target = step.target
        is_asset = (
            target is not None
            and target.asset_key is not None
            and target.asset_key in owned
            and target.asset_key not in shared
        )
        tasks.append(
            Task(
                key=step.key,
                run=AwaitStep(pipeline, step),
                deps=tuple(dict.fromkeys(deps)),
                selection_pulls=tuple(dict.fromkeys(pulls)),
                external_deps=tuple(dict.fromkeys(external_deps)),
                asset_deps=tuple(dict.fromkeys(asset_deps)),
                is_asset=is_asset,
                asset_key=target.asset_key if is_asset and target is not None else None,
                asset_name=step.key,
                description=step.description or _default_description(step),
                source=_step_source(pipeline, step),
                kinds=_kinds(target) if is_asset and target is not None else frozenset(),
                metadata=_step_metadata(pipeline, step),
                tags={"trakt/loom_process": step.process} if _TAG_VALUE.match(step.process) else {},
            )
        )
        tasks.extend(aggregate_after.get(step.key, ()))
    settings = pipeline.settings
    folder = pipeline.module_path.parent
    top_level = folder.name == "pipelines"
    config_files = (pipeline.config.source,) if pipeline.config.source.parent == folder else ()
    snapshot = SnapshotSpec(
        root=folder,
        suffixes=SOURCE_SUFFIXES,
        exclude_dirs=_data_dirs(pipeline, folder),
        files=(pipeline.module_path, *config_files) if top_level else (),
    )
    return TaskGraph(
        name=pipeline.name,
        tool=TOOL,
        source_file=pipeline.module_path,
        tasks=tuple(tasks),
        external=tuple(externals.values()),
        description=pipeline.description or f"loom pipeline {pipeline.name} ({pipeline.module_path.name})",
        max_parallel=len(tasks) + 1,
        failure_policy=FailurePolicy.CONTINUE,
        granularity=Granularity(settings.granularity),
        allowed_granularities=frozenset(Granularity),
        pool=settings.pool,
        file_settings=settings.file_settings,
        subset_runs_ancestors=False,
        session_factory=make_session_factory(pipeline),
        config_class=run_config_class(pipeline),
        resources={LOOM_RUNNER_KEY: LoomRunnerResource()},
        partitions_def=_partitions(pipeline),
        op_retries=OpRetries(settings.retries, settings.retry_delay) if settings.retries else None,
        triggers=(CronTrigger(settings.schedule[0], timezone=settings.schedule[1]),) if settings.schedule else (),
        snapshot=snapshot,
        kinds=frozenset({"polars"}),
        metadata=dict(
            LoomPipelineMetadataSet(
                pipeline=pipeline.qualname, module=str(pipeline.module_path), config=str(pipeline.config.path)
            )
        ),
    )


def build_loom_graphs(
    pipelines: Iterable[LoomPipeline],
) -> tuple[list[TaskGraph], list[LoadError], list[LoadError]]:
    """The graphs of every loom pipeline of a root, sharing one table catalog; its warnings; and an error for
    each pipeline whose translation failed (only that pipeline is left out)."""
    ordered = list(pipelines)
    catalog, warnings = build_catalog(ordered)
    graphs, errors = [], []
    for pipeline in ordered:
        try:
            graphs.append(build_loom_graph(pipeline, catalog))
        except Exception as exc:  # noqa: BLE001 - only this pipeline is out
            errors.append(unexpected_error(pipeline.module_path, exc, TOOL, pipeline=pipeline.name))
    return graphs, warnings, errors


# -- helpers ----------------------------------------------------------------------------------
def _ancestors(steps: tuple[LoomStep, ...]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for step in steps:
        mine: set[str] = set()
        for dep in step.plan_deps:
            mine.add(dep)
            mine |= found.get(dep, set())
        found[step.key] = mine
    return found


def _writers_of(steps: Iterable[LoomStep], dataset: Dataset) -> list[LoomStep]:
    return [
        s
        for s in steps
        if s.target is not None
        and s.target.kind is dataset.kind
        and (s.target.ref == dataset.ref or (dataset.asset_key is not None and s.target.asset_key == dataset.asset_key))
    ]


def _kinds(dataset: Dataset | None) -> frozenset[str]:
    if dataset is None or dataset.format is None:
        return frozenset()
    kind = _FORMAT_KINDS.get(dataset.format.lower())
    return frozenset({kind}) if kind else frozenset()


def _default_description(step: LoomStep) -> str:
    target = step.target.label if step.target is not None else "nothing"
    return f"loom step {step.name} (process {step.process}): writes {target}"


def _step_source(pipeline: LoomPipeline, step: LoomStep) -> SourceLocation:
    """Where the step's class is defined (the pipeline's class when loom cannot tell)."""
    if step.module_path is not None:
        return SourceLocation(step.module_path, step.line, step.qualname)
    return SourceLocation(pipeline.module_path, pipeline.line, pipeline.qualname)


def _step_metadata(pipeline: LoomPipeline, step: LoomStep) -> dict[str, Any]:
    """A step's own metadata (what it reads and writes, its process and class); the shared keys and the code
    link to its class are the core translator's (`trakt/*`, `dagster/code_references`)."""
    target = step.target
    return {
        **LoomStepMetadataSet(
            process=step.process,
            class_name=f"{step.module}.{step.qualname}",
            sources=json_list(f"{s.alias}: {s.dataset.label}" for s in step.sources),
            target=target.label if target is not None else None,
            write_mode=(target.mode or None) if target is not None else None,
            temp_scope=target.scope if target is not None and target.kind is DatasetKind.TEMP else None,
            location=(dataset_uri(pipeline, target) or None) if target is not None else None,
            parallel_group=step.parallel_group,
            streaming=True if step.streaming else None,
        ),
        **_table_name(target),
    }


def _table_name(dataset: Dataset | None) -> TableMetadataSet:
    is_table = dataset is not None and dataset.kind is DatasetKind.TABLE
    return TableMetadataSet(table_name=dataset.ref if is_table else None)


def _dataset_metadata(pipeline: LoomPipeline, dataset: Dataset) -> dict[str, Any]:
    """A table or file several steps write (one asset for all of them)."""
    location = dataset_uri(pipeline, dataset) or None
    return {**LoomStepMetadataSet(target=dataset.label, location=location), **_table_name(dataset)}


def _external(pipeline: LoomPipeline, dataset: Dataset) -> ExternalDataset:
    location = dataset_uri(pipeline, dataset) or None
    return ExternalDataset(
        name=dataset.ref,
        asset_name="_".join(dataset.asset_key or ()),
        kind=_FORMAT_KINDS.get((dataset.format or "").lower()),
        description=f"{dataset.label}, read by loom pipeline {pipeline.name} and written by none",
        metadata={**LoomStepMetadataSet(source=dataset.label, location=location), **_table_name(dataset)},
        asset_key=dataset.asset_key,
    )


def _data_dirs(pipeline: LoomPipeline, folder: Path) -> tuple[Path, ...]:
    """Folders holding data, not source, that the run's snapshot skips: the lake (table roots), the temps."""
    found = [folder / name for name in ("lake", "exports", "outputs", "checkpoints")]
    storage = pipeline.config.storage
    roots = [storage.defaults.table_path.uri] if storage.defaults.table_path is not None else []
    roots += [str(Path(r.path.uri).parent) for r in storage.tables if r.path is not None]
    if pipeline.settings.temp_root:
        config_folder = pipeline.config.path if pipeline.config.path.is_dir() else pipeline.config.path.parent
        roots.append(str(config_folder / pipeline.settings.temp_root))
    for root in roots:
        if root and "://" not in root:
            found.append(Path(root))
    return tuple(dict.fromkeys(found))


def _partitions(pipeline: LoomPipeline) -> Any:
    partitions = pipeline.settings.partitions
    if partitions is None:
        return None
    import dagster as dg

    return dg.DailyPartitionsDefinition(
        start_date=partitions.start.isoformat(),
        end_offset=partitions.end_offset,
        timezone=partitions.timezone,
    )
