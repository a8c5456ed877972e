"""The README `Pipeline` API of flowrun (spec §2.8), which flowrun-dag 1.0.0 does not ship.

Built on 1.0.0's own scheduler, state store and hook dispatcher (so scheduling, retries, skips, hook
order and run reports are 1.0.0's), with the README differences: task names and inference scoped to the
pipeline, the `RunContext` found by resolved annotation (postponed annotations, keyword-only parameters)
and passed by name, `override_tasks` snapshots, stricter errors (empty DAG, unknown `from_tasks`), and
`resume` limited to the tasks of the resumed run. Code written for the README runs by changing one
import: `from trakt_dagster.flowrun import Pipeline, RunContext`.

Example:
    ```python
    import asyncio
    from trakt_dagster.flowrun import Pipeline, RunContext

    pipeline = Pipeline("orders", max_parallel=2)

    @pipeline.task()
    def extract() -> list[int]:
        return [1, 2, 3]

    @pipeline.task(retries=1)
    def total(extract, context: RunContext[dict] = None) -> int:
        return sum(extract)

    async def main() -> None:
        async with pipeline:
            run_id = await pipeline.run_once()
            print(pipeline.get_run_report(run_id)["tasks"]["total"]["result"])   # 6

    asyncio.run(main())
    ```
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from flowrun import RunContext, SchedulerConfig, TaskRegistry, TaskSpec
from flowrun.dag import DAG, DAGBuilder
from flowrun.executor import ExecutionResult, TaskExecutor
from flowrun.hooks import RunHook
from flowrun.scheduler import Scheduler
from flowrun.state import InMemoryStateStore

from trakt_dagster.flowrun.display import render_tree
from trakt_dagster.flowrun.invoke import TaskTimeoutError, call_async, call_sync, error_text
from trakt_dagster.flowrun.signature import CallShape, bind_call, call_shape, inferred_deps, unsatisfied_parameters

_log = logging.getLogger("flowrun")


@dataclass(frozen=True)
class PipelineTaskSpec(TaskSpec):
    """flowrun's `TaskSpec` plus the call shape computed with the README rules."""

    shape: CallShape | None = None


def normalize_deps(deps: Sequence[str | Callable[..., Any]]) -> list[str]:
    """Dependency entries (names or decorated functions) as task names, as flowrun resolves them.

    Example:
        >>> def extract(): ...
        >>> normalize_deps(["load", extract])
        ['load', 'extract']
    """
    names: list[str] = []
    for dep in deps:
        if isinstance(dep, str):
            names.append(dep)
        elif callable(dep):
            name = getattr(dep, "__flowrun_task_name__", None) or getattr(dep, "__name__", None)
            if not isinstance(name, str):
                raise TypeError("Task dependency callable must expose a string task name")
            names.append(name)
        else:
            raise TypeError("deps entries must be task names or task callables")
    return names


def make_spec(
    name: str,
    func: Callable[..., Any],
    deps: Sequence[str],
    *,
    timeout_s: float | None,
    retries: int,
    dag: str | None,
) -> PipelineTaskSpec:
    """A task spec with the README call shape; raises flowrun's registration errors."""
    shape = call_shape(func, deps)
    if timeout_s is not None and not shape.is_async:
        raise ValueError(
            f"Task {name!r} is synchronous and cannot use timeout_s. "
            "Thread-based timeouts cannot safely stop blocking work. "
            "Use an async task or configure timeouts in the client you call inside the task."
        )
    missing = unsatisfied_parameters(func, deps)
    if missing:
        shown = ", ".join(deps) if deps else "(none)"
        raise ValueError(
            f"Task {name!r} has required parameters that flowrun cannot provide: {', '.join(missing)}. "
            f"Available dependency names: {shown}. "
            "Required parameters must either be annotated as RunContext, named 'upstream', "
            "or exactly match a dependency name. When deps is omitted, flowrun only infers already-registered "
            "task names from required parameters. If you use dependency names that are not valid Python "
            "identifiers, consume them through the upstream mapping or rename the task."
        )
    return PipelineTaskSpec(
        name=name,
        func=func,
        deps=list(deps),
        timeout_s=timeout_s,
        retries=retries,
        dag=dag,
        accepts_context=shape.accepts_context,
        requires_context=shape.context_required,
        accepts_upstream=shape.accepts_upstream,
        named_deps=list(shape.named_deps),
        shape=shape,
    )


class _Registry(TaskRegistry):
    """A per-pipeline registry; specs are validated by `make_spec` (README rules), not by 1.0.0's."""

    def register(self, spec: TaskSpec) -> None:
        if spec.name in self._tasks:
            raise ValueError(f"Duplicate task name: {spec.name!r}")
        self._tasks[spec.name] = spec

    def subset(self, names: Iterable[str]) -> _Registry:
        copy = _Registry()
        for name in names:
            copy.register(self.get(name))
        return copy


class _Executor(TaskExecutor):
    """1.0.0's executor with the README invoker: context by name, real timeouts only, exits caught."""

    async def run_once(
        self,
        spec: TaskSpec,
        timeout_s: float | None,
        context: RunContext[Any] | None = None,
        upstream_results: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        start = time.time()
        shape = getattr(spec, "shape", None) or call_shape(
            spec.func, spec.deps, named_deps=spec.named_deps, accepts_upstream=spec.accepts_upstream
        )
        try:
            if context is not None and shape.accepts_context:
                context = context.with_deadline_s(timeout_s)
            args, kwargs = bind_call(shape, spec.name, context, upstream_results or {})
            if shape.is_async:
                result = await call_async(spec.func, args, kwargs, timeout_s)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._executor, functools.partial(call_sync, spec.func, args, kwargs)
                )
            return ExecutionResult(ok=True, result=result, duration_s=time.time() - start)
        except asyncio.CancelledError:
            raise
        except TaskTimeoutError as exc:
            self._log.warning("Task %r timed out after %ss", spec.name, timeout_s)
            return ExecutionResult(ok=False, error=error_text(exc), duration_s=time.time() - start)
        except Exception as exc:  # noqa: BLE001 - every task error is recorded in the run report
            self._log.debug("Task %r raised %s", spec.name, type(exc).__name__, exc_info=True)
            return ExecutionResult(ok=False, error=error_text(exc), duration_s=time.time() - start)


class _Runtime:
    """What a pipeline and its snapshots share: thread pool, state store, hooks, concurrency."""

    def __init__(
        self,
        *,
        executor: concurrent.futures.Executor | None,
        max_workers: int,
        max_parallel: int,
        logger: logging.Logger | None,
        hooks: Sequence[RunHook] | None,
        state_store: Any,
    ) -> None:
        self.config = SchedulerConfig(max_parallel=max_parallel)
        self.owns_pool = executor is None
        self.pool = executor or concurrent.futures.ThreadPoolExecutor(max_workers=max_workers)
        self.max_workers = max_workers if executor is None else getattr(executor, "_max_workers", None)
        self.log = logger or _log
        self.hooks = list(hooks or [])
        self.state = state_store if state_store is not None else InMemoryStateStore()
        self.executor = _Executor(self.pool, logger=self.log)
        self.closed = False

    def scheduler(self, registry: TaskRegistry) -> Scheduler:
        return Scheduler(registry, self.state, self.executor, self.config, logger=self.log, hooks=self.hooks)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.owns_pool:
                self.pool.shutdown(wait=False)


async def _iterate(contexts: Any) -> AsyncIterator[RunContext[Any] | None]:
    if isinstance(contexts, AsyncIterable):
        async for context in contexts:
            yield context
        return
    for context in contexts:
        yield context


def _constant(value: Any) -> Callable[[], Any]:
    def constant() -> Any:
        return value

    return constant


class Pipeline:
    """A named flowrun DAG with its own tasks, scheduler settings and run history (README API).

    Example:
        >>> p = Pipeline("etl", max_parallel=2)
        >>> @p.task()
        ... def extract():
        ...     return [1, 2]
        >>> @p.task(deps=[extract])
        ... def load(extract):
        ...     return sum(extract)
        >>> p.tasks, p.dependencies
        (('extract', 'load'), {'extract': (), 'load': ('extract',)})
    """

    def __init__(
        self,
        name: str,
        *,
        executor: concurrent.futures.Executor | None = None,
        max_workers: int = 8,
        max_parallel: int = 4,
        logger: logging.Logger | None = None,
        hooks: Sequence[RunHook] | None = None,
        state_store: Any = None,
    ) -> None:
        self._name = name
        self._runtime = _Runtime(
            executor=executor,
            max_workers=max_workers,
            max_parallel=max_parallel,
            logger=logger,
            hooks=hooks,
            state_store=state_store,
        )
        self._registry = _Registry()
        self._dag: DAG | None = None
        self._snapshot_of: Pipeline | None = None
        caller = sys._getframe(1)
        self.defined_at: tuple[str, int] = (caller.f_code.co_filename, caller.f_lineno)
        """(file, line) where the pipeline was created (load errors point there)."""

    @classmethod
    def _snapshot(cls, parent: Pipeline, registry: _Registry, dag: DAG) -> Pipeline:
        snapshot = cls.__new__(cls)
        snapshot._name = parent._name
        snapshot._runtime = parent._runtime
        snapshot._registry = registry
        snapshot._dag = dag
        snapshot._snapshot_of = parent._snapshot_of or parent
        snapshot.defined_at = parent.defined_at
        return snapshot

    # -- introspection ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in topological order."""
        return tuple(self._build().nodes)

    @property
    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """`{task: (deps, ...)}` in topological order (explicit, inferred and ordering-only deps)."""
        dag = self._build()
        return {node: tuple(dag.edges.get(node, ())) for node in dag.nodes}

    @property
    def max_parallel(self) -> int:
        return self._runtime.config.max_parallel

    @property
    def max_workers(self) -> int | None:
        return self._runtime.max_workers

    @property
    def hooks(self) -> tuple[RunHook, ...]:
        return tuple(self._runtime.hooks)

    @property
    def is_snapshot(self) -> bool:
        """True for pipelines returned by `override_tasks` / `subgraph` (they cannot register tasks)."""
        return self._snapshot_of is not None

    @property
    def snapshot_of(self) -> Pipeline | None:
        return self._snapshot_of

    def task_spec(self, name: str) -> PipelineTaskSpec:
        """The registered spec of task `name` (function, deps, timeout, retries, call shape)."""
        return self._registry.get(name)

    def validate(self) -> None:
        """Build the DAG; raises flowrun's errors (missing dep, cycle, empty DAG)."""
        self._build()

    def display(self) -> str:
        """The DAG as flowrun's ASCII tree."""
        dag = self._build()
        return render_tree(dag.name, dag.nodes, dag.edges)

    def list_tasks(self) -> list[str]:
        return list(self.tasks)

    def get_run_report(self, run_id: str) -> dict[str, Any]:
        """flowrun's run report (live result objects); unknown id → `KeyError`."""
        record = self._runtime.state.get_run(run_id)
        statuses = [task.status for task in record.tasks.values()]
        if any(status in ("FAILED", "SKIPPED") for status in statuses):
            status = "FAILED"
        elif all(s == "SUCCESS" for s in statuses) and (statuses or record.finished_at is not None):
            status = "SUCCESS"
        else:
            status = "RUNNING"
        return {
            "run_id": record.run_id,
            "dag_name": record.dag_name,
            "metadata": dict(record.metadata),
            "created_at": record.created_at,
            "finished_at": record.finished_at,
            "status": status,
            "tasks": {
                name: {
                    "status": task.status,
                    "attempt": task.attempt,
                    "started_at": task.started_at,
                    "finished_at": task.finished_at,
                    "error": task.error,
                    "result": task.result,
                }
                for name, task in record.tasks.items()
            },
        }

    # -- registration -------------------------------------------------------------------------
    def task(
        self,
        name: str | Callable[..., Any] | None = None,
        deps: Sequence[str | Callable[..., Any]] | None = None,
        timeout_s: float | None = None,
        retries: int = 0,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]] | Callable[..., Any]:
        """Decorator registering a task; returns the function unchanged (still directly callable)."""
        if self._snapshot_of is not None:
            raise TypeError("Cannot register tasks on a built pipeline snapshot.")
        if callable(name):  # bare @pipeline.task
            return self.task()(name)

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            task_name = name or func.__name__
            dep_names = normalize_deps(deps) if deps is not None else inferred_deps(func, self._registry.task_specs)
            spec = make_spec(task_name, func, dep_names, timeout_s=timeout_s, retries=retries, dag=self._name)
            self._registry.register(spec)
            func.__flowrun_task_name__ = task_name  # type: ignore[attr-defined]
            self._dag = None
            return func

        return register

    # -- snapshots ----------------------------------------------------------------------------
    def subgraph(self, targets: Sequence[str]) -> Pipeline:
        """A snapshot with `targets` and their ancestors; unknown target → `Task 'x' is not in the DAG`."""
        sub = self._build().subgraph(list(targets))
        return Pipeline._snapshot(self, self._registry.subset(sub.nodes), sub)

    def override_tasks(self, mapping: Mapping[str, Any] | None = None, /, **named: Any) -> Pipeline:
        """A snapshot whose named tasks are replaced: a callable replaces the function, anything else
        becomes a task returning that constant. Deps, retries (and `timeout_s` for async overrides) stay."""
        merged = {**(mapping or {}), **named}
        dag = self._build()
        if not merged:
            return self
        unknown = sorted(name for name in merged if name not in dag.nodes)
        if unknown:
            raise ValueError(
                f"Cannot override unknown pipeline tasks: {', '.join(unknown)}. "
                f"Available tasks: {', '.join(dag.nodes)}."
            )
        registry = _Registry()
        for node in dag.nodes:
            spec = self._registry.get(node)
            if node in merged:
                replacement = merged[node]
                func = replacement if callable(replacement) else _constant(replacement)
                timeout_s = spec.timeout_s if inspect.iscoroutinefunction(func) else None
                spec = make_spec(node, func, spec.deps, timeout_s=timeout_s, retries=spec.retries, dag=spec.dag)
            registry.register(spec)
        return Pipeline._snapshot(self, registry, dag)

    # -- runs ---------------------------------------------------------------------------------
    async def run_once(self, context: RunContext[Any] | None = None) -> str:
        """Run the DAG once; never raises for task failures; returns the run id."""
        dag = self._build()
        self._runtime.log.info("Starting DAG %r", dag.name)
        run_id = await self._runtime.scheduler(self._registry).run_dag_once(dag, context)
        self._runtime.log.info("Finished DAG %r  run_id=%s", dag.name, run_id)
        return run_id

    async def run_many(self, contexts: Iterable[Any] | AsyncIterable[Any]) -> list[str]:
        """One sequential run per context of a sync or async iterable; a failed run does not stop the loop."""
        self._build()
        return [await self.run_once(context) async for context in _iterate(contexts)]

    async def run_subgraph(self, targets: Sequence[str], context: RunContext[Any] | None = None) -> str:
        """Run `targets` and their ancestors."""
        return await self.subgraph(targets).run_once(context)

    async def resume(
        self,
        run_id: str,
        *,
        from_tasks: Sequence[str] | None = None,
        context: RunContext[Any] | None = None,
    ) -> str:
        """Re-run what did not succeed in run `run_id` (plus `from_tasks` and their descendants), reusing
        the other results. Only the tasks of that run take part (a subgraph run stays a subgraph)."""
        previous = self._runtime.state.get_run(run_id)
        if previous.dag_name != self._name:
            raise ValueError(f"Run {run_id!r} belongs to DAG {previous.dag_name!r}, not {self._name!r}.")
        full = self._build()
        wanted = list(from_tasks or [])
        unknown = [name for name in wanted if name not in full.nodes]
        if unknown:
            raise ValueError(
                f"Cannot resume from unknown tasks: {', '.join(unknown)}. Available tasks: {', '.join(full.nodes)}."
            )
        outside = [name for name in wanted if name not in previous.tasks]
        if outside:
            raise ValueError(f"Cannot resume from tasks that were not part of run {run_id!r}: {', '.join(outside)}.")
        nodes = [node for node in full.nodes if node in previous.tasks]
        dag = DAG(name=full.name, nodes=nodes, edges={n: [d for d in full.edges[n] if d in nodes] for n in nodes})
        reset = dag.descendants_of(set(wanted)) if wanted else set()
        new_id = str(uuid.uuid4())
        metadata = context.metadata if context is not None and context.metadata else previous.metadata
        self._runtime.state.create_resumed_run(
            run_id=new_id,
            prev_run_id=run_id,
            dag_name=self._name,
            task_names=nodes,
            reset_tasks=reset,
            metadata=metadata,
        )
        self._runtime.log.info("Resuming DAG %r from run %s  new_run_id=%s", self._name, run_id, new_id)
        registry = self._registry.subset(nodes)
        await self._runtime.scheduler(registry).run_dag_once(dag, context, run_id=new_id)
        return new_id

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Shut down the thread pool the pipeline created (not one passed in). Safe to call twice."""
        self._runtime.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _build(self) -> DAG:
        if self._dag is None:
            if len(self._registry) == 0:
                raise ValueError(f"DAG {self._name!r} has no registered tasks.")
            self._dag = DAGBuilder(self._registry).build(self._name)
        return self._dag

    def __repr__(self) -> str:
        kind = " snapshot" if self._snapshot_of is not None else ""
        return f"<flowrun Pipeline{kind} {self._name!r}: {len(self._registry)} task(s)>"
