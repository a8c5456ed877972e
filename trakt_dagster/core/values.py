"""Task values on disk: `<runs_dir>/<pipeline>/<run id>/values/<task>/`, Parquet for frames, pickle else.

Used by the step-granularity IO manager and, in pipeline granularity, by graphs with `persist_values`
(so a later run that selects only downstream tasks, or a re-execution, can reload upstream results).
`<runs_dir>/<pipeline>/latest/<task>` (a symbolic link to `../<run id>/values/<task>`) names the newest run
holding each task's value.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import secrets
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trakt_dagster.core.run_folder import log_file_name

_INDEX = "index.json"


class ValueSerializationError(TypeError):
    """A task value cannot be stored (step granularity: cannot cross an op boundary)."""

    retryable = False


@functools.lru_cache(maxsize=4096)
def safe_name(name: str) -> str:
    """A file-system-safe form of a task key."""
    return log_file_name(name)[:-4]


def write_value(folder: str | os.PathLike[str], value: Any, *, task: str) -> list[str]:
    """Store `value` in `folder` (replaced as a whole); returns the file names written.

    A dict is stored entry by entry, so each DataFrame of a trakt step becomes its own Parquet file.
    (Paths are handled as text: a run of many small tasks stores a value per task.)
    """
    folder = os.fspath(folder)
    staging = folder + ".partial"
    try:
        os.mkdir(staging)
    except FileExistsError:  # left by a write that was killed
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
    except FileNotFoundError:
        os.makedirs(staging)
    entries: dict[str, dict[str, str]] = {}
    items = value.items() if isinstance(value, dict) else [("__value__", value)]
    try:
        for position, (name, item) in enumerate(items):
            stem = f"{position:04d}_{safe_name(str(name))}"
            entries[str(name)] = _write_item(staging, stem, item, name=str(name), task=task)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    index = {"kind": "dict" if isinstance(value, dict) else "value", "entries": entries}
    _write_bytes(os.path.join(staging, _INDEX), json.dumps(index).encode("utf-8"))
    try:
        os.rename(staging, folder)
    except OSError:  # an earlier value of the same run and task (a retried op): replaced as a whole
        shutil.rmtree(folder)
        os.rename(staging, folder)
    return [e["file"] for e in entries.values()]


def _write_item(folder: str, stem: str, item: Any, *, name: str, task: str) -> dict[str, str]:
    if type(item).__name__ == "DataFrame" and hasattr(item, "to_parquet"):
        try:
            file = f"{stem}.parquet"
            item.to_parquet(os.path.join(folder, file))
            return {"file": file, "format": "parquet"}
        except Exception:  # noqa: BLE001 - frames Parquet cannot hold (mixed object columns) go to pickle
            pass
    file = f"{stem}.pkl"
    try:  # (into the value's staging folder, renamed into place as a whole: no staging per file needed)
        with open(os.path.join(folder, file), "wb", buffering=0) as fh:  # (pickle writes whole frames)
            pickle.dump(item, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - reported with the artifact and task names
        raise ValueSerializationError(
            f"Artifact '{name}' of task '{task}' cannot be stored between ops ({type(exc).__name__}: {exc}). "
            "Return picklable values, or run the pipeline with granularity 'pipeline' (values stay in memory)."
        ) from exc
    return {"file": file, "format": "pickle"}


def _write_bytes(path: str, data: bytes) -> None:
    """A new file holding `data` (one `write` for small files: no Python file object)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def read_value(folder: Path) -> Any:
    """Load a value stored by `write_value`."""
    index = json.loads((folder / _INDEX).read_text())
    loaded: dict[str, Any] = {}
    for name, entry in index["entries"].items():
        path = folder / entry["file"]
        if entry["format"] == "parquet":
            import pandas as pd

            loaded[name] = pd.read_parquet(path)
        else:
            with open(path, "rb") as fh:
                loaded[name] = pickle.load(fh)
    return loaded if index["kind"] == "dict" else loaded.get("__value__")


_LEGACY: dict[str, set[str]] = {}
_LEGACY_LOCK = threading.Lock()


def _legacy_pointers(folder: str) -> set[str]:
    """The `<task>.json` pointer files earlier versions wrote in a `latest/` folder, listed once per process
    (this version never writes them), so storing a value costs no look-up for them."""
    key = folder
    with _LEGACY_LOCK:
        names = _LEGACY.get(key)
        if names is None:
            try:
                names = {e.name for e in os.scandir(folder) if e.name.endswith(".json")}
            except OSError:
                names = set()
            if len(_LEGACY) > 10_000:
                _LEGACY.clear()
            _LEGACY[key] = names
        return names


class ValueStore:
    """The stored task values of one pipeline.

    Example:
        >>> import tempfile
        >>> store = ValueStore(Path(tempfile.mkdtemp()))
        >>> _ = store.save("run-1", "clean", {"rows": [1, 2]})
        >>> store.find("clean", ["run-2", "run-1"])
        'run-1'
        >>> store.load("clean", "run-1")
        {'rows': [1, 2]}
    """

    def __init__(self, pipeline_dir: Path) -> None:
        self.pipeline_dir = Path(pipeline_dir)
        self._root = str(self.pipeline_dir)
        self._latest = os.path.join(self._root, "latest")

    def folder(self, run_id: str, task: str) -> Path:
        return self.pipeline_dir / run_id / "values" / safe_name(task)

    def save(self, run_id: str, task: str, value: Any) -> list[str]:
        name = safe_name(task)
        files = write_value(os.path.join(self._root, run_id, "values", name), value, task=task)
        self._point_latest(name, run_id)
        return files

    def _point_latest(self, name: str, run_id: str) -> None:
        """`latest/<name>` → `../<run id>/values/<name>` (`name`: the task's `safe_name`): a symbolic link,
        replaced atomically (renaming a new link over the old one; on ext4 renaming a new *file* over an old one
        costs a forced disk write)."""
        folder = self._latest
        link = os.path.join(folder, name)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        target = os.path.join(os.pardir, run_id, "values", name)
        try:
            os.symlink(target, tmp)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            os.symlink(target, tmp)
        try:
            os.replace(tmp, link)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        legacy = f"{name}.json"  # the pointer file earlier versions wrote, replaced by the link
        if legacy in _legacy_pointers(folder):
            _legacy_pointers(folder).discard(legacy)
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, legacy))

    def stored_files(self, run_id: str, task: str) -> list[str] | None:
        """The files of `task`'s value stored by `run_id`, or None if it stored none."""
        index = self.folder(run_id, task) / _INDEX
        if not index.exists():
            return None
        return [e["file"] for e in json.loads(index.read_text())["entries"].values()]

    def latest_run(self, task: str) -> str | None:
        """The newest run that stored a value of `task` (None if none did)."""
        link = self.pipeline_dir / "latest" / safe_name(task)
        try:
            return Path(os.readlink(link)).parts[1]  # ../<run id>/values/<task>
        except (OSError, IndexError):
            pass
        pointer = link.with_name(f"{link.name}.json")  # written by earlier versions
        return json.loads(pointer.read_text())["run_id"] if pointer.exists() else None

    def find(self, task: str, run_ids: Iterable[str | None]) -> str | None:
        """The first of `run_ids` (then the latest run) that holds a value of `task`."""
        for run_id in [*run_ids, self.latest_run(task)]:
            if run_id and (self.folder(run_id, task) / _INDEX).exists():
                return run_id
        return None

    def load(self, task: str, run_id: str) -> Any:
        return read_value(self.folder(run_id, task))
