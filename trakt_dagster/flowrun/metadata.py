"""flowrun's own metadata keys (namespace `flowrun`), as typed Dagster metadata sets, and what a task's
result says about itself at materialization (rows and schema of a data frame, the path of a file).

The shared keys (tool, DAG as `trakt/pipeline`, task, retries, timeout, retry delay) are
`core.metadata.TaskMetadataSet`'s and are not repeated here.

Example:
    >>> dict(FlowrunTaskMetadataSet(style="engine", is_async=False))
    {'flowrun/style': 'engine', 'flowrun/is_async': False}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet

from trakt_dagster.core.metadata import PATH_KEY, TableMetadataSet, metadata_entries


class FlowrunTaskMetadataSet(NamespacedMetadataSet):
    """Definition-time metadata of a flowrun task's asset.

    Args:
        style: how the DAG is written (`engine`, `pipeline`); deps: the task's dependencies;
        ordering_only_deps: dependencies that only order (their value is not passed); is_async: an
        `async def` task; retry_backoff: the factor between retry delays.
    """

    style: str | None = None
    deps: dg.JsonMetadataValue | None = None
    ordering_only_deps: dg.JsonMetadataValue | None = None
    is_async: bool | None = None
    retry_backoff: float | None = None

    @classmethod
    def namespace(cls) -> str:
        return "flowrun"


class FlowrunDagMetadataSet(NamespacedMetadataSet):
    """Metadata of a DAG (its graph): the style, module and attribute it was read from."""

    style: str | None = None
    module: str | None = None
    attribute: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "flowrun"


class FlowrunRunMetadataSet(NamespacedMetadataSet):
    """Materialization-time metadata of a task (none of these names is a definition-time key)."""

    attempt: int | None = None
    duration_s: float | None = None
    result_type: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "flowrun"


def result_metadata(value: Any) -> dict[str, Any]:
    """What a task's result says about itself: `dagster/row_count` and `dagster/column_schema` for a data
    frame (pandas, Polars), `dagster/row_count` for a list of records, `path` for a file it names (a `Path`,
    or a `path` entry of a dict result).

    Example:
        >>> result_metadata([{"id": 1}, {"id": 2}])["dagster/row_count"]
        2
        >>> result_metadata(42)
        {}
    """
    columns = getattr(value, "columns", None)
    dtypes = getattr(value, "dtypes", None)
    shape = getattr(value, "shape", None)
    if columns is not None and dtypes is not None and isinstance(shape, tuple) and len(shape) == 2:
        try:
            rows = int(shape[0])
            pairs = zip(list(columns), list(dtypes), strict=False)
            schema = dg.TableSchema(columns=[dg.TableColumn(name=str(n), type=str(t)) for n, t in pairs])
        except Exception:  # noqa: BLE001 - an exotic frame still materializes, without its schema
            return {}
        return metadata_entries(TableMetadataSet, row_count=rows, column_schema=schema)
    found: dict[str, Any] = {}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        found.update(metadata_entries(TableMetadataSet, row_count=len(value)))
    path = value.get("path") if isinstance(value, dict) else value
    if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes):
        try:
            candidate = Path(path)
            if (isinstance(value, (dict, os.PathLike))) and candidate.is_file():
                found[PATH_KEY] = dg.MetadataValue.path(str(candidate.absolute()))
        except (OSError, ValueError):
            pass
    return found
