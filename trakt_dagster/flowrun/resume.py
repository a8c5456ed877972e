"""flowrun's `resume` as a Dagster re-execution (the graph's `reuse_values` hook, see `core.reuse`).

A re-execution of a flowrun run resumes it when it is a "from failure" re-execution (Dagster's
re-execute from failure, a run retry, `ReexecutionOptions.from_failure`, a step selection) or when it
names `from_tasks` (tag `trakt/from_tasks` or run config). Then, as `Engine.resume`:

* the tasks that succeeded in the parent run are taken over (their results reloaded from the parent's run
  folder, `persist_values`), unless they are in `from_tasks` or downstream of them;
* everything else of the parent run runs again: failed, skipped, never started;
* only tasks of the parent run take part (a subgraph run stays a subgraph, N8);
* unknown `from_tasks` are an error naming them (N7);
* the run's metadata is the new run's if it has any, else the parent's.

A result that cannot be reloaded (never stored, e.g. a generator) makes its task run again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trakt_dagster.core.reuse import ReusePlan, ReuseRequest
from trakt_dagster.flowrun.model import FlowrunDag
from trakt_dagster.flowrun.report import REPORT_KEY, RESUME_KEY, read_manifest
from trakt_dagster.flowrun.runtime import requested_from_tasks

_pending: dict[str, ResumeInfo] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ResumeInfo:
    """What a resuming run takes over from its parent (handed from the reuse hook to the session)."""

    parent_run_id: str
    entries: Mapping[str, Mapping[str, Any]]
    """Report entries of the preserved tasks, as the parent run reported them."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Reloaded results of the preserved tasks that the run needs."""
    value_runs: Mapping[str, str] = field(default_factory=dict)
    """Preserved task → the run whose folder holds its stored result."""
    metadata: Mapping[str, Any] = field(default_factory=dict)


def take_resume_info(run_id: str) -> ResumeInfo | None:
    """The resume information computed for `run_id` (once)."""
    with _lock:
        return _pending.pop(run_id, None)


def descendants(dag: FlowrunDag, names: set[str]) -> set[str]:
    """`names` and every task downstream of them."""
    children: dict[str, list[str]] = {task.name: [] for task in dag.tasks}
    for task in dag.tasks:
        for dep in task.deps:
            children.setdefault(dep, []).append(task.name)
    found: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(children.get(name, []))
    return found


def make_reuse_policy(dag: FlowrunDag) -> Callable[[ReuseRequest], ReusePlan | None]:
    """The `reuse_values` hook of a flowrun graph."""

    def policy(request: ReuseRequest) -> ReusePlan | None:
        run = request.run
        from_tasks = requested_from_tasks(run.tags, request.config)
        names = [task.name for task in dag.tasks]
        unknown = [name for name in from_tasks if name not in names]
        if unknown:
            raise ValueError(
                f"Cannot resume from unknown tasks: {', '.join(unknown)}. Available tasks: {', '.join(names)}."
            )
        if run.parent_run_id is None and from_tasks:
            raise ValueError(
                f"from_tasks ({', '.join(from_tasks)}) only applies when re-executing an earlier run (resume); "
                "this run re-executes none."
            )
        if run.parent_run_id is None or (not from_tasks and run.reexecution != "from_failure"):
            return _fresh(request)
        parent = read_manifest(request.store.pipeline_dir / run.parent_run_id)
        report = (parent or {}).get(REPORT_KEY)
        if not report:
            if from_tasks:
                raise ValueError(
                    f"Cannot resume run {run.parent_run_id}: its run folder (with the flowrun report) is missing "
                    f"under {request.store.pipeline_dir}."
                )
            return _fresh(request)
        previous: Mapping[str, Mapping[str, Any]] = report.get("tasks", {})
        outside = [name for name in from_tasks if name not in previous]
        if outside:
            raise ValueError(
                f"Cannot resume from tasks that were not part of run {run.parent_run_id}: {', '.join(outside)}."
            )
        in_run = [name for name in names if name in previous]
        reset = descendants(dag, set(from_tasks)) if from_tasks else set()
        preserved = {n for n in in_run if previous[n].get("status") == "SUCCESS" and n not in reset}
        stored_in = dict((parent or {}).get(RESUME_KEY, {}).get("preserved", {}))
        value_runs = {name: stored_in.get(name, run.parent_run_id) for name in preserved}
        rerun = [n for n in in_run if n not in preserved]
        values = _load_needed(dag, rerun, preserved, value_runs, request)
        with _lock:
            _pending[run.run_id] = ResumeInfo(
                parent_run_id=run.parent_run_id,
                entries={n: previous[n] for n in in_run if n in preserved},
                values=values,
                value_runs={n: value_runs[n] for n in preserved},
                metadata=report.get("metadata") or {},
            )
        return ReusePlan(selected=frozenset(n for n in in_run if n not in preserved), provided=values)

    return policy


def _fresh(request: ReuseRequest) -> ReusePlan | None:
    """Not a resume: a selection runs its tasks and their ancestors, as `run_subgraph` (no stored results)."""
    if request.selected is None:
        return None
    return ReusePlan(selected=request.selected, provided={})


def _load_needed(
    dag: FlowrunDag,
    rerun: list[str],
    preserved: set[str],
    value_runs: dict[str, str],
    request: ReuseRequest,
) -> dict[str, Any]:
    """Reload the preserved results that re-run tasks receive; a result that cannot be reloaded moves its
    task to the re-run set (and its own parents' results are then needed)."""
    by_name = dag.by_name
    values: dict[str, Any] = {}
    pending = list(rerun)
    while pending:
        name = pending.pop()
        for dep in by_name[name].deps:
            if dep not in preserved or dep in values:
                continue
            candidates = [value_runs.get(dep), request.run.parent_run_id, request.run.root_run_id]
            run_id = next((r for r in candidates if r and request.store.stored_files(r, dep) is not None), None)
            try:
                if run_id is None:
                    raise LookupError(dep)
                values[dep] = request.store.load(dep, run_id)
                value_runs[dep] = run_id
            except Exception:  # noqa: BLE001 - not reloadable: compute it again
                preserved.discard(dep)
                rerun.append(dep)
                pending.append(dep)
    return values
