"""The task callable of a flowrun task on Dagster: one attempt, flowrun's injection, hooks and report.

The core runner calls it once per attempt (retries are the runner's: `retries + 1` attempts, immediate
unless a delay is configured). Sync tasks run in the runner's worker thread (at most `max_workers` at a
time), async tasks on the run's event loop with `asyncio.timeout(timeout_s)`; the context handed to the
task carries the attempt's deadline and the run's cancel event.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from flowrun.hooks import TaskFailureEvent, TaskRetryEvent, TaskStartEvent, TaskSuccessEvent

from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.graph import TaskResult
from trakt_dagster.core.metadata import metadata_entries
from trakt_dagster.flowrun.invoke import TaskExitError, call_async, call_sync, error_text
from trakt_dagster.flowrun.metadata import FlowrunRunMetadataSet, result_metadata
from trakt_dagster.flowrun.model import FlowrunDag, FlowrunTask
from trakt_dagster.flowrun.runtime import FlowrunSession
from trakt_dagster.flowrun.signature import bind_call, missing_context_message


class RunFlowrunTask:
    """`run(ctx, upstream)` for one flowrun task (upstream keyed by flowrun task names).

    Example:
        >>> # Task("clean", run=RunFlowrunTask(dag, dag.by_name["clean"]), deps=("fetch",))
    """

    def __init__(self, dag: FlowrunDag, task: FlowrunTask) -> None:
        self.dag = dag
        self.task = task

    def __call__(self, ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: FlowrunSession = ctx.session
        task = self.task
        attempt = ctx.attempt
        run_id = session.run_id
        log = _task_log(ctx)
        session.report.start(task.name, attempt)
        session.hooks.emit(
            "on_task_start",
            TaskStartEvent(run_id=run_id, dag_name=self.dag.name, task_name=task.name, attempt=attempt),
            log,
        )
        ctx.on_cancel(session.cancel)
        started = time.time()
        try:
            value = self._invoke(session, ctx, upstream)
        except BaseException as exc:  # noqa: BLE001 - every outcome of task code is a task failure
            raised = exc if isinstance(exc, Exception) else TaskExitError.wrap(exc)
            text = error_text(raised)
            duration = time.time() - started
            session.report.fail(task.name, text)
            session.hooks.emit(
                "on_task_failure",
                TaskFailureEvent(
                    run_id=run_id,
                    dag_name=self.dag.name,
                    task_name=task.name,
                    attempt=attempt,
                    duration_s=duration,
                    error=text,
                ),
                log,
            )
            if attempt <= task.retries and getattr(raised, "retryable", True) and not ctx.cancelled:
                session.hooks.emit(
                    "on_task_retry",
                    TaskRetryEvent(
                        run_id=run_id,
                        dag_name=self.dag.name,
                        task_name=task.name,
                        next_attempt=attempt + 1,
                        max_attempts=task.retries + 1,
                    ),
                    log,
                )
                session.report.retry(task.name)
            if raised is exc:
                raise
            raise raised from exc
        duration = time.time() - started
        session.report.succeed(task.name, value)
        session.hooks.emit(
            "on_task_success",
            TaskSuccessEvent(
                run_id=run_id,
                dag_name=self.dag.name,
                task_name=task.name,
                attempt=attempt,
                duration_s=duration,
                result=value,
            ),
            log,
        )
        return TaskResult(
            value=value,
            metadata={
                **metadata_entries(
                    FlowrunRunMetadataSet,
                    attempt=attempt,
                    duration_s=round(duration, 6),
                    result_type=type(value).__name__,
                ),
                **result_metadata(value),
            },
            record={"attempt": attempt},
        )

    def _invoke(self, session: FlowrunSession, ctx: TaskContext, upstream: Mapping[str, Any]) -> Any:
        task = self.task
        context = session.context
        if context is not None and task.shape.accepts_context and task.timeout_s is not None:
            context = context.with_deadline_s(task.timeout_s)
        if context is None and task.shape.context_required:
            error = RuntimeError(missing_context_message(task.name))
            error.add_note(
                f"trakt-dagster: the context factory (flowrun_context) of DAG '{self.dag.name}' gave no RunContext "
                "for this run; return one from it (see docs/flowrun.md, 'The run's RunContext')."
            )
            raise error
        args, kwargs = bind_call(task.shape, task.name, context, upstream)
        if task.shape.is_async:
            return session.loop.run(call_async(task.func, args, kwargs, task.timeout_s), ctx.on_cancel)
        with session.sync_slots if session.sync_slots is not None else nullcontext():
            return call_sync(task.func, args, kwargs)


def _task_log(ctx: TaskContext):  # noqa: ANN202 - a log(level, message) closure
    def log(level: str, message: str) -> None:
        ctx.emit(level, message, {})

    return log
