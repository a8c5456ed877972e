"""Task graph → Dagster asset specs, through an overridable translator (the dagster-dbt pattern)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import dagster as dg

from trakt_dagster.core.errors import LoadError
from trakt_dagster.core.graph import CheckDefinition, ExternalDataset, Task, TaskGraph
from trakt_dagster.core.metadata import (
    CODE_REFERENCES_KEY,
    LoadErrorMetadataSet,
    TaskMetadataSet,
    code_references,
    metadata_entries,
)
from trakt_dagster.core.names import dagster_name, unique_dagster_names

TAG_PREFIX = "trakt/"
LOAD_ERROR_ASSET = "load-error"
"""Last part of a broken pipeline's placeholder asset key; the `-` keeps it apart from every task asset
(task names become Dagster names, which never contain `-`)."""
LOAD_ERROR_TAG = f"{TAG_PREFIX}load_error"
SHOWN_ERRORS = 50
"""A placeholder's description and metadata list at most this many errors (the count says how many)."""


def _asset_key(prefix: str, name: str) -> dg.AssetKey:
    """`AssetKey([prefix, name])`, one immutable key object per path of text parts: a load asks for each task's
    key several times (checks, binding, its spec, its dependants' specs), and Dagster validates every new key.
    Anything else (e.g. a translator's prefix that is no text) goes to Dagster, which says what is wrong."""
    if type(prefix) is str and type(name) is str:
        return _text_asset_key(prefix, name)
    return dg.AssetKey([prefix, name])


@functools.lru_cache(maxsize=16384)
def _text_asset_key(prefix: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([prefix, name])


@dataclass(frozen=True)
class TaskTranslatorData:
    """The single argument of every translator hook: the graph and the task being described.

    Example:
        >>> # data = TaskTranslatorData(graph, graph.tasks[0]); translator.get_asset_spec(data)
    """

    graph: TaskGraph
    task: Task


@dataclass(frozen=True)
class ExternalTranslatorData:
    """Argument of `get_external_spec`: the graph and one dataset it reads but does not produce."""

    graph: TaskGraph
    dataset: ExternalDataset


@dataclass(frozen=True)
class LoadErrorTranslatorData:
    """Argument of `get_load_error_spec`: a pipeline that did not load and its errors.

    Example:
        >>> LoadErrorTranslatorData("sales", (LoadError("bad"),)).pipeline
        'sales'
    """

    pipeline: str
    errors: tuple[LoadError, ...]


class DagsterTaskGraphTranslator:
    """Describes tasks as Dagster `AssetSpec`s. Subclass and override `get_asset_spec` (or a smaller hook).

    Example:
        >>> class OwnedTranslator(DagsterTaskGraphTranslator):
        ...     def get_asset_spec(self, data):
        ...         return super().get_asset_spec(data).replace_attributes(owners=["team:data"])
        >>> # build_definitions(root, translator=OwnedTranslator())
    """

    # -- keys ---------------------------------------------------------------------------------
    def get_pipeline_name(self, graph: TaskGraph) -> str:
        return dagster_name(graph.name)

    def get_key_prefix(self, graph: TaskGraph) -> str:
        """First part of the graph's asset keys: `asset_prefix` when set, else the pipeline name."""
        return dagster_name(graph.asset_prefix) if graph.asset_prefix else self.get_pipeline_name(graph)

    def get_asset_key(self, data: TaskTranslatorData) -> dg.AssetKey:
        """`[<prefix>, <name>]`: the task's name made valid (`fetch-orders` → `fetch_orders`), with a short
        hash only when two different names of the pipeline would otherwise collide (`TaskGraph.dagster_names`)."""
        if data.task.asset_key:
            return dg.AssetKey([dagster_name(part) for part in data.task.asset_key])
        return _asset_key(self.get_key_prefix(data.graph), data.graph.dagster_names[data.task.key_name])

    def get_external_key(self, data: ExternalTranslatorData) -> dg.AssetKey:
        if data.dataset.asset_key:
            return dg.AssetKey([dagster_name(part) for part in data.dataset.asset_key])
        return _asset_key(self.get_key_prefix(data.graph), data.graph.dagster_names[data.dataset.key_name])

    def get_group_name(self, graph: TaskGraph) -> str:
        return dagster_name(graph.group_name or graph.name)

    # -- specs --------------------------------------------------------------------------------
    def get_description(self, data: TaskTranslatorData) -> str | None:
        return data.task.description

    def get_metadata(self, data: TaskTranslatorData) -> dict[str, object]:
        """The shared keys once (`TaskMetadataSet`), the tool's own (`Task.metadata`), and the code links."""
        task = data.task
        shared = metadata_entries(
            TaskMetadataSet,
            tool=data.graph.tool,
            pipeline=data.graph.name,
            task=task.key,
            defined_at=task.source.describe() if task.source is not None else None,
            retries=task.retries or None,
            retry_delay_s=float(task.retry_delay) if task.retries and task.retry_delay else None,
            timeout_s=float(task.timeout) if task.timeout else None,
        )
        meta: dict[str, object] = {**shared, **task.metadata}
        if CODE_REFERENCES_KEY not in meta:
            refs = self.get_code_references(data)
            if refs is not None:
                meta[CODE_REFERENCES_KEY] = refs
        return meta

    def get_code_references(self, data: TaskTranslatorData) -> dg.CodeReferencesMetadataValue | None:
        """Links from the asset to its source: the task's definition (`Task.source`) and the files it runs
        (`Task.code_references`), so the UI opens them as it does for dagster-dbt's models."""
        return code_references([data.task.source, *data.task.code_references])

    def get_kinds(self, data: TaskTranslatorData) -> set[str]:
        return {data.graph.tool, *data.graph.kinds, *data.task.kinds}

    def get_tags(self, data: TaskTranslatorData) -> dict[str, str]:
        return {**data.graph.tags, **data.task.tags}

    def get_asset_spec(self, data: TaskTranslatorData) -> dg.AssetSpec:
        """The spec of one task's asset. Deps follow the graph's edges (through non-asset tasks)."""
        return dg.AssetSpec(
            key=self.get_asset_key(data),
            deps=self._asset_deps(data.graph, data.task),
            description=self.get_description(data),
            metadata=self.get_metadata(data),
            group_name=self.get_group_name(data.graph),
            kinds=self.get_kinds(data),
            tags=self.get_tags(data),
            owners=list(data.graph.owners),
            code_version=data.task.code_version,
            skippable=True,
        )

    def get_external_spec(self, data: ExternalTranslatorData) -> dg.AssetSpec:
        """The spec of a dataset the pipeline reads but does not produce (an external asset)."""
        dataset = data.dataset
        kinds = {data.graph.tool} | ({dataset.kind} if dataset.kind else set())
        return dg.AssetSpec(
            key=self.get_external_key(data),
            description=dataset.description,
            metadata={f"{TAG_PREFIX}pipeline": data.graph.name, **dataset.metadata},
            group_name=self.get_group_name(data.graph),
            kinds=kinds,
        )

    def get_check_spec(self, data: TaskTranslatorData, check: CheckDefinition) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            name=unique_dagster_names(c.name for c in data.task.checks)[check.name],
            asset=self.get_asset_key(data),
            description=check.description,
            blocking=check.blocking,
        )

    # -- pipelines that did not load ----------------------------------------------------------
    def get_load_error_key(self, data: LoadErrorTranslatorData) -> dg.AssetKey:
        """`[<pipeline>, "load-error"]`: in the pipeline's folder of the asset tree, never a task's key."""
        return dg.AssetKey([dagster_name(data.pipeline), LOAD_ERROR_ASSET])

    def get_load_error_spec(self, data: LoadErrorTranslatorData) -> dg.AssetSpec:
        """The placeholder shown in a broken pipeline's group: an external asset carrying every error.

        Example:
            >>> spec = DagsterTaskGraphTranslator().get_load_error_spec(
            ...     LoadErrorTranslatorData("sales", (LoadError("Pipeline 'steps' must be a list."),)))
            >>> spec.key.to_user_string(), spec.group_name, spec.metadata["trakt/error_count"]
            ('sales/load-error', 'sales', 1)
        """
        errors = data.errors
        shown = errors[:SHOWN_ERRORS]
        rendered = "\n".join(f"- {e.render()}".replace("\n", "\n  ") for e in shown)
        if len(errors) > len(shown):
            rendered += f"\n... and {len(errors) - len(shown)} more (run `trakt-dagster validate` for all)"
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        files = sorted({str(e.location.file) for e in errors if e.location is not None})
        tools = sorted({e.tool for e in errors if e.tool})
        description = (
            f"**Pipeline `{data.pipeline}` did not load** ({count}). It has no assets, jobs, schedules or "
            "sensors until the errors below are fixed; every other pipeline of the code location loaded. "
            "Fix the files, then reload the code location.\n\n```\n" + rendered + "\n```"
        )
        return dg.AssetSpec(
            key=self.get_load_error_key(data),
            description=description,
            metadata={
                **metadata_entries(TaskMetadataSet, pipeline=data.pipeline),
                **metadata_entries(
                    LoadErrorMetadataSet,
                    error_count=len(errors),
                    load_errors=dg.MetadataValue.md("```\n" + rendered + "\n```"),
                    files=dg.MetadataValue.text("\n".join(files) or "(none)"),
                    first_error=dg.MetadataValue.text(errors[0].render() if errors else ""),
                ),
            },
            group_name=dagster_name(data.pipeline),
            kinds=set(tools[:3]),
            tags={LOAD_ERROR_TAG: "true"},
        )

    # -- helpers ------------------------------------------------------------------------------
    def _asset_deps(self, graph: TaskGraph, task: Task) -> list[dg.AssetKey]:
        keys: list[dg.AssetKey] = []
        for dep_key in task.deps:
            dep = graph.by_key[dep_key]
            if dep.is_asset:
                keys.append(self.get_asset_key(TaskTranslatorData(graph, dep)))
            else:  # look through helper tasks (e.g. input loading) to what they read
                keys.extend(self._asset_deps(graph, dep))
        for name in task.external_deps:
            keys.append(self.get_external_key(ExternalTranslatorData(graph, graph.external_by_name[name])))
        keys.extend(dg.AssetKey.from_user_string(key) for key in task.asset_deps)
        return list(dict.fromkeys(keys))
