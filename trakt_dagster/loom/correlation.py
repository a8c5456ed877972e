"""Correlation ids, attempts and the steps an earlier attempt of the same correlation already completed.

loom keeps `CORRELATION` temps across the `run` calls of one correlation id until an attempt succeeds with
`last_attempt=True`. On Dagster, the correlation id is stable across the retries of the pipeline's op and
across re-executions of a run (it is derived from the root run id, or from a params field), so a retry
reads the temps the failed attempt wrote. Each completed step is recorded in
`<runs dir>/<pipeline>/correlations/<id>.json` when an attempt ends without finishing the correlation (a
successful last attempt removes it); a retry or a re-execution from failure then leaves out the steps whose
results are still there (tables and files written, `CORRELATION` temps kept) and runs the rest. A process
killed mid-attempt writes nothing: its re-execution runs every step again.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trakt_dagster.core.atomic import atomic_write_text
from trakt_dagster.loom.config import CORRELATION_NONE, CORRELATION_RUN
from trakt_dagster.loom.model import DatasetKind, LoomPipeline, LoomStep

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


def correlation_id(
    pipeline: LoomPipeline,
    key: str,
    *,
    run_id: str,
    root_run_id: str | None,
    params: Any,
    explicit: str | None = None,
) -> str | None:
    """The correlation id of a run: explicit (run config), from the root Dagster run, or from a params field.

    Example:
        >>> from types import SimpleNamespace
        >>> p = SimpleNamespace(name="Nightly")
        >>> correlation_id(p, "run", run_id="b", root_run_id="a", params=None)
        'Nightly-a'
        >>> correlation_id(p, "run_date", run_id="b", root_run_id=None, params=SimpleNamespace(run_date="2026-03-30"))
        'Nightly-run_date=2026-03-30'
    """
    if explicit:
        return safe(explicit)
    if key == CORRELATION_NONE:
        return None
    if key == CORRELATION_RUN:
        return safe(f"{pipeline.name}-{root_run_id or run_id}")
    return safe(f"{pipeline.name}-{key}={getattr(params, key)}")


def safe(text: str) -> str:
    """A correlation id usable as a folder name (loom puts it in checkpoint paths)."""
    return _UNSAFE.sub("_", text).strip("_")[:200] or "correlation"


def local_temp_exists(root: Path, correlation: str, name: str) -> bool:
    """Whether a `CORRELATION` temp is in a local checkpoint root (single file, or fan-in parts)."""
    base = root / "correlations" / correlation
    return (base / f"{name}.arrow").exists() or any((base / name).glob("*.arrow"))


class CorrelationState:
    """The steps completed under one correlation id, in a JSON file (rewritten atomically).

    Example:
        >>> # state = CorrelationState(runs_dir / "Nightly" / "correlations" / "Nightly-abc.json")
        >>> # state.record("LoadOrders", run_id="abc", attempt=1); state.completed()
    """

    def __init__(self, path: Path, correlation: str) -> None:
        self.path = path
        self.correlation = correlation
        self._lock = threading.Lock()
        self._steps: dict[str, dict[str, Any]] | None = None
        self._dirty = False

    def completed(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        steps = data.get("steps") if isinstance(data, dict) else None
        return dict(steps) if isinstance(steps, dict) else {}

    def record(self, key: str, *, run_id: str, attempt: int, loom_run_id: str) -> None:
        """Remember a completed step (in memory; `save` writes the file when the attempt ends)."""
        with self._lock:
            if self._steps is None:
                self._steps = self.completed()
            self._steps[key] = {
                "run_id": run_id,
                "attempt": attempt,
                "loom_run_id": loom_run_id,
                "finished_at": datetime.now(UTC).isoformat(),
            }
            self._dirty = True

    def save(self) -> None:
        """Write the completed steps, if any changed (an attempt that did not finish the correlation)."""
        with self._lock:
            if self._steps is not None and self._dirty:
                self._write(self._steps)
                self._dirty = False

    def reset(self) -> None:
        with self._lock:
            self._steps = {}
            self._dirty = False
            self.path.unlink(missing_ok=True)

    def _write(self, steps: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"correlation_id": self.correlation, "steps": dict(steps)}
        atomic_write_text(self.path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def reusable_steps(
    pipeline: LoomPipeline,
    planned: Iterable[str],
    completed: Mapping[str, Any],
    *,
    correlation_temp_exists: Any,
) -> set[str]:
    """Which planned steps a resumed attempt can leave out: completed before, and their results still there.

    Tables, files and `CORRELATION` temps outlive a `run` call; a `RUN` temp does not, so its producer runs
    again unless no step that still runs reads it.
    """
    planned_steps = [s for s in pipeline.steps if s.key in set(planned)]
    reusable: set[str] = set()
    for step in reversed(planned_steps):
        if step.key not in completed:
            continue
        temp = step.temp_target
        if temp is None:
            reusable.add(step.key)
        elif temp.scope == "correlation":
            if correlation_temp_exists(temp.ref):
                reusable.add(step.key)
        elif all(c.key in reusable for c in _consumers(planned_steps, step)):
            reusable.add(step.key)
    return reusable


def _consumers(steps: list[LoomStep], producer: LoomStep) -> list[LoomStep]:
    name = producer.temp_target.ref if producer.temp_target else None
    order = [s.key for s in steps]
    after = order.index(producer.key)
    return [s for s in steps[after + 1 :] if name in {d.ref for d in s.reads(DatasetKind.TEMP)}]
