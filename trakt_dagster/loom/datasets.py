"""What a compiled loom step reads and writes, as `Dataset`s with their Dagster asset keys.

Tables are keyed by their name (`IntoTable("raw.orders")` → `raw/orders`), so a table is the same asset
for every step and pipeline that reads or writes it. Files are keyed by their path as written
(`exports/summary_{run_date}.csv` → `exports/summary_run_date_csv`) or, for a `storage.files` alias, by
`files/<alias>`. Temps and external systems have no asset.
"""

from __future__ import annotations

import re
from typing import Any

from trakt_dagster.loom.model import Dataset, DatasetKind

_PART = re.compile(r"[^A-Za-z0-9_]+")
_MODES = {
    "AppendSpec": "append",
    "ReplaceSpec": "replace",
    "ReplacePartitionsSpec": "replace_partitions",
    "ReplaceWhereSpec": "replace_where",
    "UpsertSpec": "upsert",
    "UpdateSpec": "update",
    "HistorifySpec": "history",
}


def table_key(ref: str) -> tuple[str, ...]:
    """The asset key of a table reference.

    Example:
        >>> table_key("raw.orders"), table_key("main.mart.sales")
        (('raw', 'orders'), ('main', 'mart', 'sales'))
    """
    return tuple(part for part in ref.split(".") if part)


def file_key(path: str, *, is_alias: bool = False) -> tuple[str, ...]:
    """The asset key of a file path (or `storage.files` alias); placeholders and punctuation become `_`.

    Example:
        >>> file_key("exports/summary_{run_date}.csv")
        ('exports', 'summary_run_date_csv')
        >>> file_key("daily_summary", is_alias=True)
        ('files', 'daily_summary')
    """
    if is_alias:
        return ("files", key_part(path))
    text = path.replace("://", "/").replace("\\", "/")
    parts = []
    for raw in text.split("/"):
        if raw in ("", "."):
            continue
        parts.append("parent" if raw == ".." else key_part(raw.replace("*", "all")))
    return tuple(parts) or ("files", "unnamed")


def key_part(text: str) -> str:
    """One asset key part: letters, digits and `_` only (`summary_{run_date}.csv` → `summary_run_date_csv`)."""
    return re.sub("__+", "_", _PART.sub("_", text)).strip("_") or "unnamed"


def _format(spec: Any, default: str | None = None) -> str | None:
    value = getattr(spec, "format", None)
    return str(getattr(value, "value", value)) if value is not None else default


def source_dataset(spec: Any) -> Dataset:
    """A compiled source spec (`TableSourceSpec`, `FileSourceSpec`, `TempSourceSpec`, ...) as a `Dataset`."""
    kind = str(getattr(getattr(spec, "kind", None), "value", getattr(spec, "kind", "")))
    if kind == "table":
        ref = spec.table_ref.ref
        return Dataset(DatasetKind.TABLE, ref, table_key(ref), format="delta")
    if kind == "file":
        return Dataset(
            DatasetKind.FILE,
            spec.path,
            file_key(spec.path, is_alias=spec.is_alias),
            format=_format(spec),
            is_alias=bool(spec.is_alias),
        )
    if kind == "temp":
        return Dataset(DatasetKind.TEMP, spec.temp_name)
    name = getattr(getattr(spec, "table_ref", None), "ref", None) or getattr(spec, "collection", None)
    name = name or getattr(spec, "table", None) or type(spec).__name__
    return Dataset(DatasetKind.OTHER, f"{kind or 'source'}:{name}")


def target_dataset(spec: Any) -> Dataset:
    """A compiled target spec (`ReplaceSpec`, `FileSpec`, `TempSpec`, ...) as a `Dataset`."""
    name = type(spec).__name__
    if name in ("TempSpec", "TempFanInSpec"):
        scope = str(getattr(spec.temp_scope, "value", spec.temp_scope))
        return Dataset(DatasetKind.TEMP, spec.temp_name, scope=scope, append=name == "TempFanInSpec")
    if name == "FileSpec":
        return Dataset(
            DatasetKind.FILE,
            spec.path,
            file_key(spec.path, is_alias=spec.is_alias),
            format=_format(spec),
            is_alias=bool(spec.is_alias),
        )
    table_ref = getattr(spec, "table_ref", None)
    if table_ref is not None and name in _MODES:
        ref = table_ref.ref
        return Dataset(DatasetKind.TABLE, ref, table_key(ref), format="delta", mode=_MODES[name])
    label = getattr(table_ref, "ref", None) or name
    return Dataset(DatasetKind.OTHER, f"target:{label}")
