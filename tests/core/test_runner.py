"""The core runner: dependency order, parallel threads, retries with delay, timeouts, skips."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trakt_dagster.core.context import RunInfo
from trakt_dagster.core.events import (
    RunFinished,
    TaskFailed,
    TaskLogged,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from trakt_dagster.core.graph import FailurePolicy, Task, TaskGraph, TaskResult
from trakt_dagster.core.runner import TaskRunner, TaskTimeoutError, plan_tasks

INFO = RunInfo("run-1", "g", "test", Path("/tmp/run-1"), datetime.now(UTC))


def graph(*tasks: Task, **kwargs) -> TaskGraph:
    return TaskGraph("g", "test", Path("g.py"), tasks=tasks, **kwargs)


def value(v):
    return lambda ctx, upstream: TaskResult(value=v)


def run_all(g: TaskGraph, **kwargs) -> list:
    return list(TaskRunner(g, run_info=INFO, **kwargs).execute())


def finished(events) -> RunFinished:
    return next(e for e in events if isinstance(e, RunFinished))


def test_values_flow_along_dependencies() -> None:
    g = graph(
        Task("a", run=value(2)),
        Task("b", run=lambda ctx, up: TaskResult(value=up["a"] * 10), deps=("a",)),
        Task("c", run=lambda ctx, up: TaskResult(value=up["a"] + up["b"]), deps=("a", "b")),
    )
    events = run_all(g)
    done = finished(events)
    assert done.success and done.values["c"] == 22
    order = [e.key for e in events if isinstance(e, TaskSucceeded)]
    assert order == ["a", "b", "c"]


def test_independent_tasks_run_in_parallel() -> None:
    meeting = threading.Barrier(4, timeout=60)  # passes only when all four run at the same time

    def meet(ctx, up):
        meeting.wait()

    g = graph(*(Task(f"t{i}", run=meet) for i in range(4)), max_parallel=4)
    assert finished(run_all(g)).success


def test_max_parallel_is_respected() -> None:
    active = []
    peak = []
    lock = threading.Lock()

    def work(ctx, up):
        with lock:
            active.append(1)
            peak.append(len(active))
        time.sleep(0.05)
        with lock:
            active.pop()

    g = graph(*(Task(f"t{i}", run=work) for i in range(6)), max_parallel=2)
    assert finished(run_all(g)).success
    assert max(peak) == 2


def test_sequential_graph_runs_in_declaration_order() -> None:
    seen = []
    g = graph(*(Task(k, run=lambda ctx, up: seen.append(ctx.task.key)) for k in "dcba"), max_parallel=1)
    run_all(g)
    assert seen == ["d", "c", "b", "a"]


def test_failure_skips_descendants_while_independent_branch_finishes() -> None:
    def boom(ctx, up):
        raise ValueError("bad input")

    def slow(ctx, up):
        time.sleep(0.2)
        return TaskResult(value="ok")

    g = graph(
        Task("a", run=boom),
        Task("b", run=value(1), deps=("a",)),
        Task("c", run=value(1), deps=("b",)),
        Task("x", run=slow),
        Task("y", run=value(2), deps=("x",)),
    )
    events = run_all(g)
    skipped = {e.key: e for e in events if isinstance(e, TaskSkipped)}
    assert set(skipped) == {"b", "c"}
    assert skipped["b"].upstream == "a" and "upstream task 'a' failed" in skipped["b"].reason
    assert {e.key for e in events if isinstance(e, TaskSucceeded)} == {"x", "y"}
    failed = [e for e in events if isinstance(e, TaskFailed)]
    assert [f.key for f in failed] == ["a"] and str(failed[0].error) == "bad input"
    done = finished(events)
    assert not done.success and done.failed == ("a",) and set(done.skipped) == {"b", "c"}


def test_stop_policy_starts_nothing_after_a_failure() -> None:
    ran = []

    def boom(ctx, up):
        raise RuntimeError("stop here")

    g = graph(
        Task("a", run=boom),
        Task("independent", run=lambda ctx, up: ran.append("independent")),
        max_parallel=1,
        failure_policy=FailurePolicy.STOP,
    )
    events = run_all(g)
    assert ran == []
    skip = next(e for e in events if isinstance(e, TaskSkipped))
    assert skip.key == "independent" and "stopped after 'a' failed" in skip.reason


def test_retries_with_delay_then_success() -> None:
    attempts = []

    def flaky(ctx, up):
        attempts.append((ctx.attempt, time.perf_counter()))
        if ctx.attempt < 3:
            raise ConnectionError(f"try {ctx.attempt}")
        return TaskResult(value="done")

    g = graph(Task("f", run=flaky, retries=2, retry_delay=0.2))
    events = run_all(g)
    retries = [e for e in events if isinstance(e, TaskRetrying)]
    assert [(r.attempt, r.max_attempts) for r in retries] == [(2, 3), (3, 3)]
    assert str(retries[0].error) == "try 1"
    ok = next(e for e in events if isinstance(e, TaskSucceeded))
    assert ok.attempts == 3
    gaps = [b[1] - a[1] for a, b in zip(attempts, attempts[1:])]
    assert all(gap >= 0.19 for gap in gaps)


def test_retries_exhausted_reports_last_error() -> None:
    def always(ctx, up):
        raise ConnectionError(f"attempt {ctx.attempt}")

    events = run_all(graph(Task("f", run=always, retries=1)))
    failed = next(e for e in events if isinstance(e, TaskFailed))
    assert failed.attempts == 2 and str(failed.error) == "attempt 2"


def test_non_retryable_error_is_not_retried() -> None:
    class Fatal(Exception):
        retryable = False

    calls = []

    def fatal(ctx, up):
        calls.append(1)
        raise Fatal("no")

    events = run_all(graph(Task("f", run=fatal, retries=3)))
    assert len(calls) == 1 and not any(isinstance(e, TaskRetrying) for e in events)


def test_sync_timeout_fails_task_and_signals_cancel() -> None:
    cancelled = threading.Event()

    release = threading.Event()

    def hang(ctx, up):
        ctx.on_cancel(cancelled.set)
        release.wait(120)

    events = run_all(graph(Task("h", run=hang, timeout=0.3)))
    assert not release.is_set()  # the run ended while the task still hung
    release.set()
    failed = next(e for e in events if isinstance(e, TaskFailed))
    assert isinstance(failed.error, TaskTimeoutError)
    assert str(failed.error) == "Task 'h' timed out after 0.3s"
    assert cancelled.is_set()


def test_async_timeout_cancels_cooperatively() -> None:
    state = {}

    async def slow(ctx, up):
        try:
            await asyncio.sleep(120)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    events = run_all(graph(Task("s", run=slow, timeout=0.2)))
    assert state.get("cancelled") is True  # the sleep was cancelled, not waited for
    assert isinstance(next(e for e in events if isinstance(e, TaskFailed)).error, TaskTimeoutError)


def test_async_task_result() -> None:
    async def compute(ctx, up):
        await asyncio.sleep(0.01)
        return TaskResult(value=up["a"] + 1)

    events = run_all(graph(Task("a", run=value(1)), Task("b", run=compute, deps=("a",))))
    assert finished(events).values["b"] == 2


def test_run_timeout_fails_running_tasks_and_skips_rest() -> None:
    release = threading.Event()

    def hang(ctx, up):
        release.wait(120)

    g = graph(Task("h", run=hang), Task("after", run=value(1), deps=("h",)), run_timeout=0.3)
    events = run_all(g)
    assert not release.is_set()  # the run ended at its timeout while the task still hung
    release.set()
    failed = next(e for e in events if isinstance(e, TaskFailed))
    assert failed.key == "h" and "timed out after 0.3s" in str(failed.error)
    assert any(isinstance(e, TaskSkipped) and e.key == "after" for e in events)


def test_task_logs_are_yielded_in_order() -> None:
    def chatty(ctx, up):
        ctx.log.info("loaded %d rows", 3)
        ctx.log.warning("dropped", fields={"n": 1})

    events = run_all(graph(Task("c", run=chatty)))
    logs = [e for e in events if isinstance(e, TaskLogged)]
    assert [(e.level, e.message, dict(e.fields)) for e in logs] == [
        ("info", "loaded 3 rows", {}),
        ("warning", "dropped", {"n": 1}),
    ]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("TaskStarted") < kinds.index("TaskLogged") < kinds.index("TaskSucceeded")
    assert isinstance(events[0], TaskStarted)


def test_wrong_return_type_is_an_error() -> None:
    events = run_all(graph(Task("w", run=lambda ctx, up: 42)))
    failed = next(e for e in events if isinstance(e, TaskFailed))
    assert "returned int; expected TaskResult or None" in str(failed.error)


def test_plan_includes_needed_ancestors_only() -> None:
    g = graph(
        Task("a", run=None),
        Task("b", run=None, deps=("a",)),
        Task("c", run=None, deps=("b",)),
        Task("d", run=None),
    )
    assert plan_tasks(g, {"c"}, {}) == ["a", "b", "c"]
    assert plan_tasks(g, {"c"}, {"b": 1}) == ["c"]
    assert plan_tasks(g, None, {}) == ["a", "b", "c", "d"]
    with pytest.raises(KeyError, match="has no task"):
        plan_tasks(g, {"zzz"}, {})


def test_provided_values_are_used_instead_of_running_upstream() -> None:
    ran = []
    g = graph(
        Task("a", run=lambda ctx, up: ran.append("a")),
        Task("b", run=lambda ctx, up: TaskResult(value=up["a"] * 2), deps=("a",)),
    )
    events = list(TaskRunner(g, run_info=INFO).execute({"b"}, {"a": 21}))
    assert ran == [] and finished(events).values["b"] == 42
