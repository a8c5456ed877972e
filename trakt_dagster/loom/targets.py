"""Where a step's target lives and what its last write left: the table URI, Delta version and rows, or the
file path with the params placeholders filled in (loom's `str.format` semantics: `summary_{run_date}.csv`).
"""

from __future__ import annotations

import json
import os
import re
import string
from pathlib import Path
from typing import Any

from trakt_dagster.loom.model import Dataset, DatasetKind, LoomPipeline, LoomStep


def render_path(template: str, params: Any) -> str:
    """A file path with its `{field}` placeholders taken from the params object.

    Example:
        >>> from types import SimpleNamespace
        >>> render_path("out/summary_{run_date}.csv", SimpleNamespace(run_date="2026-03-30"))
        'out/summary_2026-03-30.csv'
    """
    names = [f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f]
    if not names:
        return template
    return template.format(**{name: getattr(params, name) for name in names})


def dataset_uri(pipeline: LoomPipeline, dataset: Dataset, params: Any = None) -> str | None:
    """The physical location of a table or file (files rendered with `params` when given)."""
    if dataset.kind is DatasetKind.TABLE:
        found = pipeline.config.table_location(dataset.ref)
        return found[0] if found else None
    if dataset.kind is DatasetKind.FILE:
        template = pipeline.config.file_template(dataset.ref) if dataset.is_alias else dataset.ref
        if template is None:
            return None
        if params is None:
            return template
        try:
            return render_path(template, params)
        except (AttributeError, KeyError, ValueError, IndexError):
            return template
    return None


_COMMIT = re.compile(r"^(\d{20})\.json$")
_ROW_METRICS = ("num_added_rows", "num_output_rows", "numOutputRows", "num_target_rows_inserted")


def delta_commit(uri: str, storage_options: dict[str, str] | None = None) -> dict[str, Any]:
    """The version of a Delta table and the rows its last commit added (from the commit's metrics).

    A local table is read straight from its `_delta_log` (the newest commit file's `commitInfo`, well under a
    millisecond); other locations through `deltalake`.

    Example:
        >>> # delta_commit("lake/raw/orders") -> {'delta_version': 3, 'rows': 1000000, 'delta_operation': 'WRITE'}
    """
    local = Path(uri[len("file://") :] if uri.startswith("file://") else uri)
    if "://" not in uri or uri.startswith("file://"):
        found = _local_commit(local)
        if found is not None:
            return found
    from deltalake import DeltaTable

    table = DeltaTable(uri, storage_options=storage_options or None)
    found: dict[str, Any] = {"delta_version": table.version()}
    history = table.history(1)
    metrics = (history[0].get("operationMetrics") or {}) if history else {}
    _rows(found, metrics)
    if history:
        found["delta_operation"] = history[0].get("operation")
    return found


def _local_commit(table: Path) -> dict[str, Any] | None:
    log = table / "_delta_log"
    try:
        versions = [int(m.group(1)) for entry in os.scandir(log) if (m := _COMMIT.match(entry.name))]
    except OSError:
        return None
    if not versions:
        return None
    version = max(versions)
    found: dict[str, Any] = {"delta_version": version}
    try:
        with open(log / f"{version:020d}.json", encoding="utf-8") as handle:
            for line in handle:
                info = json.loads(line).get("commitInfo") if line.strip() else None
                if info is not None:
                    _rows(found, info.get("operationMetrics") or {})
                    found["delta_operation"] = info.get("operation")
                    break
    except (OSError, ValueError):
        pass
    return found


def _rows(found: dict[str, Any], metrics: dict[str, Any]) -> None:
    for name in _ROW_METRICS:
        value = metrics.get(name)
        if isinstance(value, int):
            found["rows"] = value
            return


class TargetReader:
    """Called by the observer when a step ended: what the step wrote (uri, Delta version, rows)."""

    def __init__(self, pipeline: LoomPipeline, params: Any) -> None:
        self.pipeline = pipeline
        self.params = params

    def __call__(self, step: LoomStep) -> dict[str, Any]:
        target = step.target
        if target is None or target.kind not in (DatasetKind.TABLE, DatasetKind.FILE):
            return {}
        if target.kind is DatasetKind.FILE:
            uri = dataset_uri(self.pipeline, target, self.params)
            return {"uri": uri} if uri else {}
        found = self.pipeline.config.table_location(target.ref)
        if found is None:
            return {}
        uri, options = found
        return {"uri": uri, **delta_commit(uri, options)}
