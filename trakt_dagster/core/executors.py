"""The executor of a job whose plan is a single op: in the run worker itself, multiprocess on request.

Dagster's default executor starts a new process for every op. A job of one op (every pipeline-granularity
job, a step-granularity job of one task) gains nothing from that and pays the process start (seconds on a
loaded machine) on every run launched from the UI, a schedule or a sensor. `single_op_executor` accepts the
same run config as Dagster's default (`execution: {config: {in_process: {}}}` or `{multiprocess: {...}}`),
so existing run configs keep working, but defaults to in-process.

Example:
    >>> single_op_executor.name
    'in_process_first_executor'
    >>> executor_for_ops(1) is single_op_executor, executor_for_ops(3) is None
    (True, True)
"""

from __future__ import annotations

from typing import Any

import dagster as dg

_DEFAULT = dg.multi_or_in_process_executor

single_op_executor = dg.ExecutorDefinition(
    name="in_process_first_executor",
    config_schema=dg.Field(_DEFAULT.config_schema.config_type, default_value={"in_process": {}}, is_required=False),
    requirements=_DEFAULT.get_requirements,
    executor_creation_fn=_DEFAULT.executor_creation_fn,
    description="Runs the job's single op in the run worker (in_process, the default) or, when the run config "
    "asks for `multiprocess`, in a process of its own.",
)
"""Dagster's default executor with `in_process` as its default mode (run config unchanged)."""


def executor_for_ops(op_count: int) -> Any:
    """`single_op_executor` for a plan of at most one op; else None (the code location's default, Dagster's
    multiprocess executor, so independent ops run in parallel)."""
    return single_op_executor if op_count <= 1 else None
