"""A ductaflow project → task graphs: one graph (one asset, one job) per flow and per build.

* Asset `[<project>, <notebook>]`, group `<project>`, kinds `ductaflow` + `ipynb`, the first markdown cell
  as description, a code reference to the `.py`, a code version (see `versions`), the check
  `ductaflow_status` (amber = WARN).
* Job `<project>__<notebook>`: a build is one op (its flows are its records, K12); a flow is one op.
* Partitions: a conductor's scenarios (its target) or the files in `config/<kind>s/<name>/`; flattened into
  one static key set whatever the number of dimensions (`Scenario_<labels>`, made safe for Dagster). A
  backfill is one run (`BackfillPolicy.single_run`) whose op runs the selected partitions in parallel
  threads, each on its own kernel; the partitioned external asset `<notebook>_config` carries each
  partition's config version, so editing one scenario marks only that partition stale.
* Unpartitioned flows and builds run their single `default` instance.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from trakt_dagster.core.builder import BuildContext
from trakt_dagster.core.errors import SourceLocation
from trakt_dagster.core.graph import CheckDefinition, Granularity, SnapshotSpec, Task, TaskGraph
from trakt_dagster.ductaflow.metadata import DuctaflowNotebookMetadataSet
from trakt_dagster.ductaflow.model import TOOL, DuctaflowProject, Notebook
from trakt_dagster.ductaflow.runtime import AssetKeys, DuctaflowRunConfig, asset_key, make_session_factory
from trakt_dagster.ductaflow.tasks import STATUS_CHECK, RunNotebook
from trakt_dagster.ductaflow.versions import code_version

SOURCE_SUFFIXES = (".py", ".json", ".md", ".txt", ".csv", ".yaml", ".yml", ".toml")
SNAPSHOT_LIMIT = 2_000_000
CONFIG_SENSOR_INTERVAL_S = 60


def graph_name(project: DuctaflowProject, notebook: Notebook) -> str:
    """The pipeline (job) name of a notebook: `<project>__<notebook>`.

    Example:
        >>> from pathlib import Path
        >>> graph_name(DuctaflowProject("demo", Path("p")), Notebook("flow", "clean", Path("p/flows/clean.py")))
        'demo__clean'
    """
    return f"{project.name}__{notebook.name}"


def partitions_of(notebook: Notebook) -> dg.StaticPartitionsDefinition | None:
    if not notebook.partitioned:
        return None
    return dg.StaticPartitionsDefinition([i.key for i in notebook.instances])


def _keys(project: DuctaflowProject, notebook: Notebook) -> AssetKeys:
    flows = {f.name: asset_key(project, f.name) for f in project.flows if not f.partitioned}
    return AssetKeys(
        asset=asset_key(project, notebook.name),
        config=asset_key(project, notebook.config_asset_name) if notebook.partitioned else None,
        deps=tuple(asset_key(project, d) for d in notebook.deps),
        flows=flows,
    )


def _metadata(project: DuctaflowProject, notebook: Notebook) -> dict[str, Any]:
    """A notebook asset's own metadata (the shared keys and the code link to the `.py` are the core
    translator's: `trakt/*`, `dagster/code_references`)."""
    return dict(
        DuctaflowNotebookMetadataSet(
            project=project.name,
            kind=notebook.kind,
            config_file=str(notebook.config_file) if notebook.config_file is not None else None,
            partitioned_by=notebook.partitioned_by if notebook.partitioned else None,
            instances=len(notebook.instances) if notebook.partitioned else None,
            cell_timeout_s=float(notebook.timeout) if notebook.timeout else None,
        )
    )


def _extra_definitions(project: DuctaflowProject, notebook: Notebook, keys: AssetKeys):  # noqa: ANN202
    """The partitioned config asset of a partitioned notebook, and the sensor observing its files."""

    def extra(ctx: BuildContext) -> dg.Definitions:
        if keys.config is None:
            return dg.Definitions()
        partitions = ctx.graph.partitions_def
        spec = dg.AssetSpec(
            keys.config,
            description=f"The config of each instance of {notebook.kind} '{notebook.name}' "
            f"({notebook.partitioned_by}); its data version per partition is a hash of that config.",
            group_name=ctx.translator.get_group_name(ctx.graph),
            kinds={TOOL, "json"},
            partitions_def=partitions,
            metadata=dict(DuctaflowNotebookMetadataSet(project=project.name, notebook=notebook.name)),
        )
        return dg.Definitions(assets=[spec], sensors=[config_sensor(project, notebook, keys, ctx.pipeline_name)])

    return extra


def config_sensor(project: DuctaflowProject, notebook: Notebook, keys: AssetKeys, pipeline: str) -> Any:
    """A sensor that re-reads the notebook's config files and reports the partitions whose config changed
    (so Dagster shows them stale without waiting for a run). It launches no runs."""
    from trakt_dagster.ductaflow.loader import read_project
    from trakt_dagster.ductaflow.runtime import observe_configs

    @dg.sensor(
        name=f"{pipeline}_config_changes",
        minimum_interval_seconds=CONFIG_SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Observe the config files of {notebook.kind} '{notebook.name}': a changed instance config "
        "marks that partition stale. Launches no runs.",
    )
    def watch(context: dg.SensorEvaluationContext):  # noqa: ANN202 - a sensor body
        fresh, _ = read_project(project.folder)
        current = fresh.notebook(notebook.name) if fresh else None
        if current is None or not current.partitioned:
            return dg.SkipReason(f"{notebook.kind} '{notebook.name}' cannot be read now (see trakt-dagster validate)")
        known = {i.key for i in notebook.instances}
        before = _versions(context.instance, keys.config, known)
        observe_configs(context.instance, keys.config, [i for i in current.instances if i.key in known])
        after = _versions(context.instance, keys.config, known)
        changed = sorted(k for k in known if before.get(k) != after.get(k))
        return dg.SkipReason(f"configs changed: {', '.join(changed)}" if changed else "no config changed")

    return watch


def _versions(instance: Any, key: dg.AssetKey, partitions: set[str]) -> dict[str, str | None]:
    from trakt_dagster.ductaflow.runtime import _latest_version

    return {p: _latest_version(instance, key, True, p)[0] for p in partitions}


def build_notebook_graph(project: DuctaflowProject, notebook: Notebook) -> TaskGraph:
    """The task graph of one flow or build.

    Example:
        >>> # graph = build_notebook_graph(project, project.flows[0]); graph.tasks[0].key
    """
    keys = _keys(project, notebook)
    version = code_version(project, notebook)
    asset_deps = [k.to_user_string() for k in keys.deps]
    if keys.config is not None:
        asset_deps.insert(0, keys.config.to_user_string())
    what = "build" if notebook.kind == "build" else "flow"
    description = notebook.description or f"ductaflow {what} {notebook.path.name}"
    task = Task(
        key=notebook.name,
        run=RunNotebook(),
        description=description,
        source=SourceLocation(notebook.path, 1),
        kinds=frozenset({TOOL, "ipynb"}),
        metadata=_metadata(project, notebook),
        checks=(
            CheckDefinition(
                STATUS_CHECK,
                description="Amber when a successful run logged warning markers (⚠️, 'warning:') or error markers "
                "(❌, 'error:', 'exception:', 'failed:') in the first 15 characters of a line",
            ),
        ),
        pool=notebook.pool,
        asset_deps=tuple(asset_deps),
        code_version=version,
    )
    partitions = partitions_of(notebook)
    job_what = (
        "Run the build as one op (the flows it runs are reported as its records)"
        if notebook.kind == "build"
        else "Run the flow"
    )
    return TaskGraph(
        name=graph_name(project, notebook),
        tool=TOOL,
        source_file=notebook.path,
        tasks=(task,),
        description=f"{job_what}: {notebook.path.relative_to(project.folder)} of ductaflow project '{project.name}'.",
        version=version,
        max_parallel=1,
        granularity=Granularity(notebook.granularity),
        step_as_pipeline=True,
        allowed_granularities=frozenset(Granularity),
        session_factory=make_session_factory(project, notebook, keys, version),
        config_class=DuctaflowRunConfig,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions is not None else None,
        extra_definitions=_extra_definitions(project, notebook, keys),
        snapshot=SnapshotSpec(
            root=project.folder,
            suffixes=SOURCE_SUFFIXES,
            exclude_dirs=(project.folder / "runs",),
            max_file_bytes=SNAPSHOT_LIMIT,
        ),
        asset_prefix=project.name,
        group_name=project.name,
        pool=notebook.pool,
        file_settings=frozenset(k for k in ("granularity", "pool", "retries") if k in (notebook.metadata or {})),
        kinds=frozenset({TOOL}),
        metadata=dict(DuctaflowNotebookMetadataSet(project=project.name, kind=notebook.kind)),
    )


def build_project_graphs(project: DuctaflowProject) -> list[TaskGraph]:
    """Every flow's and build's graph of a project."""
    return [build_notebook_graph(project, notebook) for notebook in project.notebooks]
