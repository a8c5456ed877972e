"""The metadata vocabulary shared by every tool's assets, as a typed Dagster `NamespacedMetadataSet`.

Every task asset carries these `trakt/` keys once, whatever the tool; each tool adds its own fields under
its own prefix (`trakt_dagster/<tool>/metadata.py`) and never repeats these. Definition-time keys (shown
on the asset) and materialization-time keys (shown on a run's materialization) never share a name, so a
key means one thing everywhere. `dagster/code_references` (the links to the source) is built from the
task's source locations.

Example:
    >>> meta = TaskMetadataSet(tool="pit", pipeline="orders", task="fetch-orders", retries=2)
    >>> dict(meta)
    {'trakt/tool': 'pit', 'trakt/pipeline': 'orders', 'trakt/task': 'fetch-orders', 'trakt/retries': 2}
    >>> TaskMetadataSet.extract(dict(meta)).task
    'fetch-orders'
"""

from __future__ import annotations

import functools
import os
import typing
import warnings
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

# Not exported at the top level in Dagster 1.13; dagster-dbt's metadata_set.py imports them from here too.
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet
from dagster._core.definitions.metadata.metadata_set import (
    TableMetadataSet as TableMetadataSet,  # re-exported: `dagster/table_name`, `dagster/row_count`
)

from trakt_dagster.core.errors import SourceLocation

CODE_REFERENCES_KEY = "dagster/code_references"
PATH_KEY = "path"
"""The one materialization key without a namespace: the local file a task wrote (a trakt output, a flowrun
result naming a file, a pit save), as a path value the UI can copy. It is the key the docs have always
named, so it stays as it is rather than becoming `dagster/uri`."""


@functools.cache
def _field_types(metadata_set: type[NamespacedMetadataSet]) -> dict[str, frozenset[type]]:
    """Each field of a metadata set and the exact types its annotation names (`str | None` → str, NoneType)."""
    return {
        name: frozenset(typing.get_args(field.annotation) or (field.annotation,))
        for name, field in metadata_set.model_fields.items()
    }


@functools.cache
def _namespaced_keys(metadata_set: type[NamespacedMetadataSet]) -> tuple[tuple[str, str], ...]:
    """(field, namespaced key) of each field of a metadata set, in field order."""
    prefix = metadata_set.namespace() + "/"
    return tuple((name, prefix + name) for name in _field_types(metadata_set))


def metadata_entries(metadata_set: type[NamespacedMetadataSet], **values: object) -> dict[str, object]:
    """`dict(metadata_set(**values))`, built without the model when every value already has a type its field
    names: the namespaced keys in field order, `None` left out. Anything else (a value to coerce, an unknown
    field) goes through the model, so its conversions and errors stay Dagster's. A load builds one such dict
    per task; the model costs tens of microseconds each.

    Example:
        >>> metadata_entries(TaskMetadataSet, task="fetch", tool="pit", retries=None)
        {'trakt/tool': 'pit', 'trakt/task': 'fetch'}
        >>> metadata_entries(TaskMetadataSet, retry_delay_s=2)  # an int for a float field: the model converts
        {'trakt/retry_delay_s': 2.0}
    """
    fields = _field_types(metadata_set)
    for name, value in values.items():
        types = fields.get(name)
        if types is None or (value is not None and type(value) not in types):
            return dict(metadata_set(**values))
    return {key: value for name, key in _namespaced_keys(metadata_set) if (value := values.get(name)) is not None}


class TaskMetadataSet(NamespacedMetadataSet):
    """Definition-time metadata of every task asset (namespace `trakt`).

    Args:
        tool: which tool the pipeline is written for (`trakt`, `flowrun`, `pit`, `ductaflow`, `loom`).
        pipeline: the pipeline's own name (a pit DAG, a flowrun DAG, a trakt pipeline, ...).
        task: the task's own name as the tool spells it (`fetch-orders`); the asset key holds the Dagster
            name (`fetch_orders`). Commands accept both.
        defined_at: `file:line (key ...)` of the task's definition (also a code reference link).
        retries: retries after a failed attempt (the runner's, per task).
        retry_delay_s: seconds before a retry.
        timeout_s: seconds an attempt may take.
    """

    tool: str | None = None
    pipeline: str | None = None
    task: str | None = None
    defined_at: str | None = None
    retries: int | None = None
    retry_delay_s: float | None = None
    timeout_s: float | None = None

    @classmethod
    def namespace(cls) -> str:
        return "trakt"


class TaskRunMetadataSet(NamespacedMetadataSet):
    """Materialization-time metadata the core adds for every tool (namespace `trakt`).

    Args:
        value_path: step granularity: the folder holding the task's value for downstream ops (a path value).
        value_files: the files of that value in the folder (`trakt/files` is a load-error placeholder's key).

    Example:
        >>> meta = metadata_entries(TaskRunMetadataSet, value_path=dg.MetadataValue.path("/runs/r/t"),
        ...                         value_files=json_list(["value.parquet"]))
        >>> sorted(meta), TaskRunMetadataSet.extract(meta).value_files.value
        (['trakt/value_files', 'trakt/value_path'], ['value.parquet'])
    """

    value_path: str | dg.PathMetadataValue | None = None
    value_files: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "trakt"


class LoadErrorMetadataSet(NamespacedMetadataSet):
    """Metadata of a pipeline's load-error placeholder asset (namespace `trakt`, beside `trakt/pipeline`).

    Args:
        error_count: how many errors the pipeline's files have; load_errors: all of them, rendered;
        files: the files they are in, one a line; first_error: the first, as one text.

    Example:
        >>> dict(LoadErrorMetadataSet(error_count=1))
        {'trakt/error_count': 1}
    """

    error_count: int | None = None
    load_errors: dg.MarkdownMetadataValue | None = None
    files: dg.TextMetadataValue | None = None
    first_error: dg.TextMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "trakt"


class LocationMetadataSet(NamespacedMetadataSet):
    """Dagster's `dagster/uri` of the data a task wrote, as a path value when it is a local file or folder
    (the UI then offers to copy it) and as text otherwise; Dagster's own `UriMetadataSet` takes only text.
    Table names and row counts go through Dagster's `TableMetadataSet`.

    Example:
        >>> dict(LocationMetadataSet(uri="s3://bucket/orders"))
        {'dagster/uri': 's3://bucket/orders'}
    """

    uri: str | dg.PathMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "dagster"

    @classmethod
    def of(cls, uri: str | None) -> LocationMetadataSet:
        """`uri` as a path value when it has no scheme (`/data/orders`), as text otherwise (`s3://...`)."""
        if not uri:
            return cls()
        return cls(uri=uri if "://" in uri else dg.MetadataValue.path(uri))


def code_references(locations: Iterable[SourceLocation | None]) -> dg.CodeReferencesMetadataValue | None:
    """`dagster/code_references` for source locations (absolute paths, line when known; duplicates once).

    Example:
        >>> refs = code_references([SourceLocation(Path("/p/pipeline.yaml"), 12, "steps[0]")])
        >>> [(r.file_path, r.line_number, r.label) for r in refs.code_references]
        [('/p/pipeline.yaml', 12, 'pipeline.yaml, steps[0]')]
    """
    found: list[dg.LocalFileCodeReference] = []
    seen: set[tuple[str, int | None]] = set()
    for location in locations:
        if location is None:
            continue
        path = str(location.file)
        if not os.path.isabs(path):
            path = str(Path(path).absolute())
        line = location.line
        if (path, line) in seen:
            continue
        seen.add((path, line))
        label = os.path.basename(path) + (f", {location.key}" if location.key else "")
        found.append(_file_reference(path, line, label))
    if not found:
        return None
    # Every item is a LocalFileCodeReference made below: the list is what the model's validation would keep.
    return dg.CodeReferencesMetadataValue.model_construct(code_references=found)


@functools.lru_cache(maxsize=8192)
def _file_reference(path: str, line: int | None, label: str) -> dg.LocalFileCodeReference:
    """One immutable code reference, built once for the tasks that share a file (a project's script).

    Values of exactly the field types (str, int or None, str) are taken as they are (`model_construct`:
    pydantic would keep them unchanged, and the class's beta warning is raised only by its validating
    constructor); anything else goes through that constructor, so its conversions and errors stay
    Dagster's.

    Example:
        >>> ref = _file_reference("/p/t.sh", 1, "t.sh, script")
        >>> ref == dg.LocalFileCodeReference(file_path="/p/t.sh", line_number=1, label="t.sh, script")
        True
    """
    if type(path) is str and (line is None or type(line) is int) and type(label) is str:
        return dg.LocalFileCodeReference.model_construct(file_path=path, line_number=line, label=label)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.LocalFileCodeReference(file_path=path, line_number=line, label=label)


def json_list(values: Iterable[object]) -> dg.JsonMetadataValue:
    """A list as a JSON metadata value (metadata sets take no plain lists).

    A list of names (every item a `str`, the usual case: dependencies, outputs) is built once and shared by the
    assets and events that list the same names; Dagster's metadata values are immutable records.

    Example:
        >>> json_list(("a", "b")).value
        ['a', 'b']
        >>> json_list(["a", "b"]) is json_list(("a", "b"))
        True
    """
    items = tuple(values)
    if all(type(item) is str for item in items):
        return _json_names(items)
    return dg.MetadataValue.json(list(items))


@functools.lru_cache(maxsize=4096)
def _json_names(names: tuple[str, ...]) -> dg.JsonMetadataValue:
    return dg.MetadataValue.json(list(names))
