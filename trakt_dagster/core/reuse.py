"""Reusing task values of earlier runs instead of recomputing them (e.g. flowrun's `resume`).

A graph with `persist_values` may set `TaskGraph.reuse_values(request) -> ReusePlan | None`. The
Dagster bridge calls it when a run starts, before planning: the plan names the tasks this run executes
and supplies the values of the tasks it takes over from earlier runs (loaded from the value store). A
plan is complete: upstream tasks whose values it does not provide run again (in support). Returning
None keeps the default (run what Dagster selected; values of unselected upstream tasks are reloaded
from the parent or newest run). An exception fails the run before any task starts, with the
exception's message as the run's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trakt_dagster.core.context import RunInfo
from trakt_dagster.core.values import ValueStore

RESUME_RETRY_TAGS = ("dagster/is_resume_retry", "dagster/is_asset_resume_retry")
"""Tags Dagster puts on 'from failure' re-executions and run retries."""


@dataclass(frozen=True)
class ReuseRequest:
    """What a graph's `reuse_values` hook receives when a run starts.

    Example:
        >>> # def reuse(request: ReuseRequest) -> ReusePlan | None:
        >>> #     if request.run.reexecution != "from_failure":
        >>> #         return None
        >>> #     ...
    """

    run: RunInfo
    """The run (tags, `parent_run_id`, `root_run_id`, `reexecution`)."""
    selected: frozenset[str] | None
    """Task keys Dagster selected (None: every task)."""
    store: ValueStore
    """The pipeline's stored values; `store.pipeline_dir / <run id>` are the pipeline's run folders."""
    config: Any = None
    """The pipeline's run config, if it has a config class."""


@dataclass(frozen=True)
class ReusePlan:
    """The tasks a run executes and the values it takes over instead of running their tasks.

    Example:
        >>> plan = ReusePlan(selected=frozenset({"load"}), provided={"extract": [1, 2]})
        >>> sorted(plan.selected), plan.provided["extract"]
        (['load'], [1, 2])
    """

    selected: frozenset[str]
    """Tasks to execute (their ancestors run too unless their values are in `provided`)."""
    provided: Mapping[str, Any] = field(default_factory=dict)
    """Values of tasks that do not run (what the executed tasks receive from them)."""


def reexecution_kind(parent_run_id: str | None, tags: Mapping[str, str], parent_state: Any) -> str | None:
    """How a Dagster run re-executes its parent: None (not a re-execution), `from_failure` (re-execute from
    failure, a run retry, or a step selection: what succeeded need not run again) or `all_steps`.

    `parent_state` is the `parent_state` of the run's execution plan's known state (Dagster sets it for
    from-failure and step-selection re-executions; it is None when all steps re-execute).

    Example:
        >>> reexecution_kind(None, {}, None) is None
        True
        >>> reexecution_kind("p1", {"dagster/is_resume_retry": "true"}, None)
        'from_failure'
        >>> reexecution_kind("p1", {}, None)
        'all_steps'
    """
    if not parent_run_id:
        return None
    if parent_state is not None or any(tags.get(tag) == "true" for tag in RESUME_RETRY_TAGS):
        return "from_failure"
    return "all_steps"
