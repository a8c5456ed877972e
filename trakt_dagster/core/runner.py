"""Execute a selection of a task graph: dependency order, parallel threads, retries, timeouts.

The runner is tool-agnostic and Dagster-agnostic: it yields plain events (`core.events`) that the
Dagster bridge (`core.execution`) turns into materializations, log lines and manifest updates.
All events are yielded from the calling thread; task code runs in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import inspect
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from trakt_dagster.core.context import RunInfo, TaskContext
from trakt_dagster.core.events import (
    RunFinished,
    RunnerEvent,
    TaskFailed,
    TaskLogged,
    TaskReported,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from trakt_dagster.core.graph import FailurePolicy, Task, TaskGraph, TaskResult


class EarlierAttemptFailed(RuntimeError):
    """Step granularity with Dagster retries: the op's earlier attempt failed (its error is in that attempt's
    Dagster log); this op attempt runs the task again."""

    def __init__(self, attempt: int) -> None:
        super().__init__(f"attempt {attempt} failed in the op's previous Dagster attempt")


class TaskTimeoutError(TimeoutError):
    """A task attempt ran longer than its `timeout`."""


class RunTimeoutError(TimeoutError):
    """The whole run ran longer than the pipeline's `run_timeout`."""


def plan_tasks(graph: TaskGraph, selected: set[str] | None, provided: Mapping[str, Any]) -> list[str]:
    """The tasks to execute, in declaration order: `selected` plus the ancestors whose values are needed.

    Ancestors already in `provided` (values loaded from elsewhere) are not run again, and neither is
    anything upstream of them.

    Example:
        >>> from trakt_dagster.core.graph import Task, TaskGraph
        >>> from pathlib import Path
        >>> g = TaskGraph("p", "x", Path("p"), tasks=(Task("a", run=None), Task("b", run=None, deps=("a",)),
        ...                                            Task("c", run=None)))
        >>> plan_tasks(g, {"b"}, {})
        ['a', 'b']
    """
    wanted = set(graph.task_keys) if selected is None else set(selected)
    unknown = wanted - set(graph.task_keys)
    if unknown:
        raise KeyError(f"Pipeline '{graph.name}' has no task(s): {', '.join(sorted(unknown))}")
    by_key = graph.by_key
    needed = set(wanted)
    stack = [dep for key in wanted for dep in by_key[key].deps]
    while stack:
        key = stack.pop()
        if key in needed or key in provided:
            continue
        needed.add(key)
        stack.extend(by_key[key].deps)
    return [key for key in graph.task_keys if key in needed]


class TaskRunner:
    """Runs the tasks of one graph for one run.

    Example:
        >>> # runner = TaskRunner(graph, run_info=info, session=session)
        >>> # for event in runner.execute(selected={"clean"}):
        >>> #     print(event)
    """

    def __init__(
        self,
        graph: TaskGraph,
        *,
        run_info: RunInfo,
        session: Any = None,
        max_parallel: int | None = None,
        failure_policy: FailurePolicy | None = None,
        run_timeout: float | None = None,
        manual_ack: bool = False,
        on_value: Callable[[str, Any], None] | None = None,
        idle: Callable[[], float | None] | None = None,
        before_task: Callable[[str], None] | None = None,
    ) -> None:
        self.graph = graph
        self.before_task = before_task
        """Called in a task's worker thread with its key before its first attempt (e.g. create the task's log
        file there, beside the consuming thread); an exception is ignored."""
        self.idle = idle
        """Called (in the consuming thread) whenever no event is waiting, before the runner waits for one:
        work the consumer deferred (batched log lines, a coalesced manifest write) can be done there. Returns
        the longest time in seconds the runner may wait before calling it again (None: until an event)."""
        self.on_value = on_value
        """Called in a task's worker thread with `(key, value)` once it succeeded, before its downstream
        tasks can start (e.g. store the value, in parallel with other tasks); an exception becomes a
        warning in the task's log."""
        self.manual_ack = manual_ack
        """When True, tasks announced by `TaskStarted` wait until `acknowledge()` (the consumer recorded
        their start, possibly for several events at once); else they start when the event is consumed."""
        self._unacked: list[TaskStarted] = []
        self._held: dict[str, tuple[Task, dict[str, Any], TaskStarted]] = {}
        """Announced tasks not handed to a worker yet (by key): a worker gets a task only once its start
        was handled, so it wakes once per task instead of once for the job and again for the go-ahead."""
        self.run_info = run_info
        self.session = session
        self.max_parallel = max(1, max_parallel or graph.max_parallel)
        self.failure_policy = failure_policy or graph.failure_policy
        self.run_timeout = run_timeout if run_timeout is not None else graph.run_timeout
        self._events: queue.SimpleQueue[RunnerEvent | _Finished] = queue.SimpleQueue()
        self._contexts: dict[str, TaskContext] = {}
        self._lock = threading.Lock()
        self._aborted = threading.Event()
        self._jobs: queue.SimpleQueue[tuple[Task, dict[str, Any], TaskStarted] | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._busy = 0

    # -- public -------------------------------------------------------------------------------
    def execute(
        self, selected: set[str] | None = None, provided: Mapping[str, Any] | None = None
    ) -> Iterator[RunnerEvent]:
        """Yield events while running `selected` (default: all) and the ancestors they need."""
        provided = dict(provided or {})
        order = plan_tasks(self.graph, selected, provided)
        by_key = self.graph.by_key
        values: dict[str, Any] = dict(provided)
        state: dict[str, str] = dict.fromkeys(order, "pending")
        running: set[str] = set()
        failed: list[str] = []
        stopped_by: str | None = None
        deadline = time.monotonic() + self.run_timeout if self.run_timeout else None

        # A task is ready once all its deps (those not provided) succeeded: count them down as tasks succeed
        # and keep the ready ones in declaration order (no scan of every task per event).
        position = {key: i for i, key in enumerate(order)}
        missing: dict[str, int] = {}
        dependents: dict[str, list[str]] = {}
        for key in order:
            waits_for = {dep for dep in by_key[key].deps if dep not in provided}
            missing[key] = len(waits_for)
            for dep in waits_for:
                dependents.setdefault(dep, []).append(key)
        ready = [position[key] for key in order if not missing[key]]
        heapq.heapify(ready)

        def succeeded(key: str) -> None:
            for child in dependents.get(key, ()):
                missing[child] -= 1
                if not missing[child]:
                    heapq.heappush(ready, position[child])

        def schedule() -> None:
            """Start ready tasks, in declaration order, while fewer than `max_parallel` run."""
            while stopped_by is None and ready and len(running) < self.max_parallel:
                key = order[heapq.heappop(ready)]
                if state[key] != "pending":
                    continue
                state[key] = "running"
                running.add(key)
                upstream = {dep: values.get(dep) for dep in by_key[key].deps}
                self._start(by_key[key], upstream)

        try:
            while True:
                schedule()
                if not running:
                    break
                item = self._next_event(deadline)
                if item is None:
                    yield from self._expire_run(running, state, failed)
                    stopped_by = stopped_by or "run timeout"
                    continue
                if not isinstance(item, _Finished):
                    started = isinstance(item, TaskStarted)
                    if started and self.manual_ack:
                        # registered before the consumer sees the event, so its `acknowledge()` releases it
                        self._unacked.append(item)
                    yield item
                    if started and not self.manual_ack:
                        self._release(item)
                    continue
                event = item.event
                running.discard(event.key)
                if isinstance(event, TaskSucceeded):
                    state[event.key] = "succeeded"
                    values[event.key] = event.result.value
                    succeeded(event.key)
                    # the tasks this one unblocks are announced before its success is handed out, so the
                    # consumer records both in one go (e.g. one manifest write per task of a chain, not two)
                    schedule()
                    yield event
                    continue
                state[event.key] = "failed"
                failed.append(event.key)
                yield event
                downstream = self.graph.descendants({event.key})
                for key in order:
                    if key in downstream and state[key] == "pending":
                        state[key] = "skipped"
                        yield TaskSkipped(key, f"upstream task '{event.key}' failed", upstream=event.key)
                if self.failure_policy is FailurePolicy.STOP:
                    stopped_by = stopped_by or event.key
            for key in order:
                if state[key] == "pending" and stopped_by == "run timeout" and self.graph.deadline_fails_pending:
                    state[key] = "failed"
                    failed.append(key)
                    now = datetime.now(UTC)
                    error = RunTimeoutError(f"Run of '{self.graph.name}' timed out after {self.run_timeout:g}s")
                    yield TaskFailed(key, error, 0, now, now, 0.0, traceback_text="")
                elif state[key] == "pending":
                    state[key] = "skipped"
                    reason = (
                        f"not started: the run stopped after '{stopped_by}' failed"
                        if stopped_by
                        else "not started: its dependencies did not succeed"
                    )
                    yield TaskSkipped(key, reason, upstream=None)
            yield RunFinished(
                success=not failed and all(s == "succeeded" for s in state.values()),
                failed=tuple(failed),
                skipped=tuple(k for k in order if state[k] == "skipped"),
                values=values,
            )
        finally:
            # Interrupted (Dagster termination) or finished: cancel whatever still runs.
            for _ in self._workers:
                self._jobs.put(None)  # idle workers end; busy ones after their task
            self._workers = []
            self._unacked = []  # announced tasks that never got their go-ahead do not start any more
            self._held.clear()
            if running:
                self._aborted.set()
            with self._lock:
                for key in running:
                    ctx = self._contexts.get(key)
                    if ctx is not None:
                        ctx.cancel()

    def pending(self) -> bool:
        """Whether more events are already waiting (a consumer may batch its work until there are none)."""
        return not self._events.empty()

    def _next_event(self, deadline: float | None) -> RunnerEvent | _Finished | None:
        """The next event; None once the run's deadline passed. Calls `idle` whenever none is waiting."""
        while True:
            wait = None
            if self.idle is not None and self._events.empty():
                wait = self.idle()
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                wait = left if wait is None else min(wait, left)
            try:
                return self._events.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return None

    def acknowledge(self) -> None:
        """Let every announced task start (with `manual_ack`)."""
        unacked, self._unacked = self._unacked, []
        for event in unacked:
            self._release(event)

    def _release(self, announced: TaskStarted) -> None:
        """Hand an announced task to a worker (a new thread only while every worker is busy)."""
        job = self._held.pop(announced.key, None)
        if job is None:
            return
        self._jobs.put(job)
        with self._lock:
            self._busy += 1
            spawn = self._busy > len(self._workers)
        if spawn:  # a worker thread per task running at once (≤ max_parallel)
            thread = threading.Thread(target=self._serve, name=f"task-{announced.key}", daemon=True)
            self._workers.append(thread)
            thread.start()

    # -- internals ----------------------------------------------------------------------------
    def _expire_run(self, running: set[str], state: dict[str, str], failed: list[str]) -> Iterator[RunnerEvent]:
        message = f"Run of '{self.graph.name}' timed out after {self.run_timeout:g}s"
        self._aborted.set()
        for key in sorted(running):
            self._held.pop(key, None)  # announced but not handed to a worker yet: it never starts
            with self._lock:
                ctx = self._contexts.get(key)
            if ctx is not None:
                ctx.cancel()
            state[key] = "failed"
            failed.append(key)
            now = datetime.now(UTC)
            yield TaskFailed(
                key,
                error=RunTimeoutError(message),
                attempts=ctx.attempt if ctx else 1,
                started_at=now,
                finished_at=now,
                duration_ms=0.0,
                traceback_text="",
            )
        running.clear()

    def _sink(self, key: str, level: str, message: str, fields: Mapping[str, Any]) -> None:
        self._events.put(TaskLogged(key, level, message, dict(fields)))

    def _report(self, key: str, payload: Any) -> None:
        self._events.put(TaskReported(key, payload))

    def _start(self, task: Task, upstream: dict[str, Any]) -> None:
        # announced from the scheduling thread, so the event is waiting before the scheduler hands out the
        # event that made the task ready; a worker gets the task once the consumer handled it (`_release`)
        announced = TaskStarted(task.key, datetime.now(UTC))
        self._held[task.key] = (task, upstream, announced)
        self._events.put(announced)

    def _serve(self) -> None:
        """A worker thread: runs tasks one after the other (starting a thread per task costs more than many
        small tasks), each in a fresh `contextvars` context as a new thread would, named after the task."""
        me = threading.current_thread()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            me.name = f"task-{job[0].key}"
            finished = None
            try:
                finished = contextvars.Context().run(self._work, *job)
            finally:
                with self._lock:
                    self._busy -= 1  # before the scheduler hears of the end, so it reuses this thread
                if finished is not None:
                    self._events.put(finished)

    def _work(self, task: Task, upstream: dict[str, Any], announced: TaskStarted) -> _Finished:
        """Run a task's attempts; returns its final event (the caller hands it to the scheduler)."""
        first, attempts = 1, task.retries + 1
        if task.dagster_retries:  # one attempt per Dagster op attempt (step granularity's RetryPolicy)
            first = min(self.run_info.retry_number, task.dagster_retries) + 1
            attempts = first
        started_at = announced.started_at
        if self.before_task is not None:
            with contextlib.suppress(Exception):  # a preparation only: the task runs either way
                self.before_task(task.key)
        t0 = time.perf_counter()
        if first > 1:
            self._events.put(
                TaskRetrying(task.key, first, task.dagster_retries + 1, EarlierAttemptFailed(first - 1), 0.0)
            )
        for attempt in range(first, attempts + 1):
            ctx = TaskContext(
                run=self.run_info,
                task=task,
                attempt=attempt,
                session=self.session,
                sink=self._sink,
                reporter=self._report,
            )
            with self._lock:
                self._contexts[task.key] = ctx
            try:
                result = self._call(task, ctx, upstream)
            except Exception as exc:  # noqa: BLE001 - every task error is reported, never swallowed
                retryable = getattr(exc, "retryable", True) and not self._aborted.is_set()
                if attempt < attempts and retryable:
                    delay = task.retry_delay * (task.retry_backoff ** (attempt - 1))
                    self._events.put(TaskRetrying(task.key, attempt + 1, attempts, exc, delay))
                    if delay > 0 and self._aborted.wait(delay):
                        retryable = False
                    if retryable:
                        continue
                finished_at = datetime.now(UTC)
                return _Finished(
                    TaskFailed(
                        task.key,
                        error=exc,
                        attempts=attempt,
                        started_at=started_at,
                        finished_at=finished_at,
                        duration_ms=round((time.perf_counter() - t0) * 1000, 3),
                        traceback_text="".join(traceback.format_exception(exc)),
                    )
                )
            finished_at = datetime.now(UTC)
            duration_ms = round((time.perf_counter() - t0) * 1000, 3)
            if self.on_value is not None:
                try:
                    self.on_value(task.key, result.value)
                except Exception as exc:  # noqa: BLE001 - the task succeeded; only the value's copy is lost
                    self._sink(task.key, "warning", f"value not stored for later runs ({exc})", {})
            return _Finished(
                TaskSucceeded(
                    task.key,
                    result=result,
                    attempts=attempt,
                    started_at=started_at,
                    finished_at=finished_at,
                    duration_ms=duration_ms,
                )
            )
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover

    @staticmethod
    def _call(task: Task, ctx: TaskContext, upstream: dict[str, Any]) -> TaskResult:
        timeout = task.timeout
        if inspect.iscoroutinefunction(task.run):
            outcome = _run_coroutine(task.run(ctx, upstream), timeout, ctx)
        elif timeout is None:
            outcome = task.run(ctx, upstream)
            if inspect.isawaitable(outcome):
                outcome = _run_coroutine(outcome, None, ctx)
        else:
            outcome = _call_with_timeout(task, ctx, upstream, timeout)
        if outcome is None:
            return TaskResult()
        if not isinstance(outcome, TaskResult):
            raise TypeError(
                f"Task '{task.key}' callable returned {type(outcome).__name__}; expected TaskResult or None."
            )
        return outcome


def _run_coroutine(coro: Any, timeout: float | None, ctx: TaskContext) -> Any:
    async def guarded() -> Any:
        if timeout is None:
            return await coro
        try:
            return await asyncio.wait_for(coro, timeout)
        except TimeoutError:
            ctx.cancel()
            raise TaskTimeoutError(f"Task '{ctx.task.key}' timed out after {timeout:g}s") from None

    return asyncio.run(guarded())


def _call_with_timeout(task: Task, ctx: TaskContext, upstream: dict[str, Any], timeout: float) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome = task.run(ctx, upstream)
            if inspect.isawaitable(outcome):
                outcome = _run_coroutine(outcome, None, ctx)
            box["value"] = outcome
        except BaseException as exc:  # noqa: BLE001 - re-raised in the waiting thread
            box["error"] = exc

    inner = threading.Thread(target=target, name=f"task-{task.key}-attempt", daemon=True)
    inner.start()
    inner.join(timeout)
    if inner.is_alive():
        ctx.cancel()
        raise TaskTimeoutError(f"Task '{task.key}' timed out after {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class _Finished:
    """Wraps a task's final event so the scheduler knows the task left the running set."""

    __slots__ = ("event",)

    def __init__(self, event: TaskSucceeded | TaskFailed) -> None:
        self.event = event
