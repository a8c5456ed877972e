"""Per-run state a front end shares between the tasks of one run (e.g. trakt's `Context`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trakt_dagster.core.context import RunInfo


@dataclass(frozen=True)
class SessionRequest:
    """What a graph's `session_factory` receives when a run starts.

    Example:
        >>> # def session_factory(request: SessionRequest) -> PipelineSession: ...
    """

    run: RunInfo
    config: Any = None
    """The pipeline's run config (an instance of `TaskGraph.config_class`), if it has one."""
    resources: Any = None
    """Dagster resources of the op (attribute access), if any."""
    log: Callable[[str, str], None] = lambda level, message: None
    """`log(level, message)` to the Dagster run log."""
    selected: frozenset[str] = frozenset()
    """Keys of the tasks that will run."""
    instance: Any = None
    """The run's `DagsterInstance` (e.g. to read earlier materializations or report observations)."""
    run_plan: frozenset[str] = frozenset()
    """Keys of every task the whole Dagster run executes (step granularity: `selected` is one op's share)."""


@dataclass
class PipelineSession:
    """Base class for per-run state; front ends subclass it.

    Example:
        >>> s = PipelineSession(run_id="r-1")
        >>> s.run_id, s.manifest_copies
        ('r-1', [])
    """

    run_id: str
    """The run id shown in the manifest (trakt: `--run-id`, default the Dagster run id)."""
    pipeline_version: str | None = None
    manifest_copies: list[Path] = field(default_factory=list)
    """Extra places the manifest is written to (trakt: `<output_dir>/manifest.json`)."""
    secrets: list[str] = field(default_factory=list)
    """Values to mask in every log line, manifest and error message."""
    snapshot_exclude: list[Path] = field(default_factory=list)
    """Folders and files inside the project that hold data or secrets, not source (left out of the run's
    snapshot)."""

    def on_event(self, event: Any) -> None:
        """Called with every runner event (`core.events`) after the manifest took it into account.

        Errors raised here are logged as warnings and never fail the run.
        """

    def manifest_extra(self) -> dict[str, Any]:
        """Extra top-level keys for the run's manifest (e.g. a tool's own run report)."""
        return {}

    def merge_manifest_extra(self, extras: list[dict[str, Any]]) -> dict[str, Any]:
        """Step granularity: the run's extra manifest keys from every op's `manifest_extra` (in op-name
        order; this op's among them). Default: this op's own; a tool whose report spans the run merges."""
        return self.manifest_extra()

    def close(self, success: bool) -> None:
        """Called once after the last task, whatever the outcome."""


def states_from_ops(
    own: dict[str, dict[str, Any]], reports: list[dict[str, dict[str, Any]]], *, pending: str
) -> dict[str, dict[str, Any]]:
    """Step granularity: each task's state from the first op report (each lists every task) in which it ran
    (its status is not `pending`), else this op's own state; the tasks in this op's order.

    Example:
        >>> own = {"a": {"status": "pending"}, "b": {"status": "pending"}}
        >>> first = {"a": {"status": "ok"}, "b": {"status": "pending"}}
        >>> second = {"a": {"status": "pending"}, "b": {"status": "failed"}}
        >>> states_from_ops(own, [first, second], pending="pending")
        {'a': {'status': 'ok'}, 'b': {'status': 'failed'}}
    """
    return {
        name: next((r[name] for r in reports if r.get(name, {}).get("status") != pending), state)
        for name, state in own.items()
    }
