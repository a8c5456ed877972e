"""The IO manager of step granularity: task values in the run folder, Parquet for frames, pickle else.

A value is stored under `<run folder>/values/<task>/`. A dict value (trakt: artifacts by name) is
stored entry by entry, so each DataFrame becomes its own Parquet file. After writing, a pointer
`<runs_dir>/<pipeline>/latest/<task>.json` names the run that holds the newest value: a later run
that selects only downstream tasks (or re-executes from a failure) loads from there.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.atomic import atomic_path, atomic_write_text
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.run_folder import log_file_name

VALUES_IO_MANAGER_KEY = "trakt_values"
_INDEX = "index.json"


class ValueSerializationError(TypeError):
    """A task value cannot cross an op boundary (step granularity)."""

    retryable = False


def _safe(name: str) -> str:
    return log_file_name(name)[:-4]


def write_value(folder: Path, value: Any, *, task: str) -> list[str]:
    """Store `value` in `folder` (replaced atomically); returns the file names written."""
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    entries: dict[str, dict[str, str]] = {}
    items = value.items() if isinstance(value, dict) else [("__value__", value)]
    for position, (name, item) in enumerate(items):
        stem = f"{position:04d}_{_safe(str(name))}"
        entries[str(name)] = _write_item(staging, stem, item, name=str(name), task=task)
    index = {"kind": "dict" if isinstance(value, dict) else "value", "entries": entries}
    (staging / _INDEX).write_text(json.dumps(index, indent=2))
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return [e["file"] for e in entries.values()]


def _write_item(folder: Path, stem: str, item: Any, *, name: str, task: str) -> dict[str, str]:
    if _is_frame(item):
        try:
            target = folder / f"{stem}.parquet"
            item.to_parquet(target)
            return {"file": target.name, "format": "parquet"}
        except Exception:  # noqa: BLE001 - frames Parquet cannot hold (mixed object columns) go to pickle
            pass
    target = folder / f"{stem}.pkl"
    try:
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            pickle.dump(item, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - reported with the artifact and task names
        raise ValueSerializationError(
            f"Artifact '{name}' of task '{task}' cannot be passed to the next op in step granularity "
            f"({type(exc).__name__}: {exc}). Return picklable values, or run the pipeline with granularity "
            "'pipeline' (values stay in memory)."
        ) from exc
    return {"file": target.name, "format": "pickle"}


def read_value(folder: Path) -> Any:
    """Load a value stored by `write_value`."""
    import pandas as pd

    index = json.loads((folder / _INDEX).read_text())
    loaded: dict[str, Any] = {}
    for name, entry in index["entries"].items():
        path = folder / entry["file"]
        if entry["format"] == "parquet":
            loaded[name] = pd.read_parquet(path)
        else:
            with open(path, "rb") as fh:
                loaded[name] = pickle.load(fh)
    return loaded if index["kind"] == "dict" else loaded.get("__value__")


def _is_frame(item: Any) -> bool:
    return type(item).__name__ == "DataFrame" and hasattr(item, "to_parquet")


class TaskValueIOManager(dg.ConfigurableIOManager):
    """Stores task values of step-granularity ops in the run folder.

    Example:
        >>> # Definitions(resources={"trakt_values": TaskValueIOManager(runs_dir="runs")})
    """

    runs_dir: str

    def _pipeline_dir(self, context: dg.OutputContext | dg.InputContext) -> Path:
        pipeline = (context.definition_metadata or {}).get("trakt/pipeline")
        return Path(self.runs_dir) / dagster_name(str(getattr(pipeline, "value", pipeline)))

    def _task(self, context: dg.OutputContext | dg.InputContext) -> str:
        task = (context.definition_metadata or {}).get("trakt/task")
        return str(getattr(task, "value", task))

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        pipeline_dir = self._pipeline_dir(context)
        task = self._task(context)
        folder = pipeline_dir / context.run_id / "values" / _safe(task)
        files = write_value(folder, obj, task=task)
        atomic_write_text(pipeline_dir / "latest" / f"{_safe(task)}.json", json.dumps({"run_id": context.run_id}))
        context.add_output_metadata({"trakt/value_path": dg.MetadataValue.path(str(folder)), "trakt/files": files})

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        pipeline_dir = self._pipeline_dir(upstream)
        task = self._task(upstream)
        candidates = []
        with contextlib.suppress(Exception):  # the producing run, when Dagster knows it
            candidates.append(upstream.run_id)
        latest = pipeline_dir / "latest" / f"{_safe(task)}.json"
        if latest.exists():
            candidates.append(json.loads(latest.read_text())["run_id"])
        for run_id in candidates:
            folder = pipeline_dir / str(run_id) / "values" / _safe(task)
            if (folder / _INDEX).exists():
                return read_value(folder)
        raise FileNotFoundError(
            f"No stored value of task '{task}' (asset {upstream.asset_key.to_user_string()}) under {pipeline_dir}: "
            "materialize it first, or run the pipeline with its upstream tasks selected."
        )
