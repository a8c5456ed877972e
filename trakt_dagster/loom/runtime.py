"""One run of a loom pipeline on Dagster: params, include, correlation id, attempt, and the `run` call.

The session is created when the pipeline's op starts. It builds the params object (msgspec, from the run
config and the partition key), maps the planned tasks to loom's `include` (original class names; never an
empty include), derives the correlation id, `attempt` (Dagster's retry number + 1) and `last_attempt`
(from the op's retries), and builds loom's runner through the `loom_runner` resource. The helper task
`ETLRunner.run` then starts the one `runner.run(...)` call in a thread of its own; each step's task waits
for that step's outcome from the adapter's observer.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.events import TaskSucceeded
from trakt_dagster.core.session import PipelineSession, SessionRequest
from trakt_dagster.loom.correlation import CorrelationState, correlation_id, local_temp_exists, reusable_steps
from trakt_dagster.loom.model import DatasetKind, LoomPipeline, LoomStep
from trakt_dagster.loom.observer import NOT_RUN, REUSED, LoomRunObserver, StepLine, StepOutcome
from trakt_dagster.loom.observers import run_observers
from trakt_dagster.loom.params import build_params
from trakt_dagster.loom.python_logs import bridge_python_logs, current_op_log
from trakt_dagster.loom.resource import LOOM_RUNNER_KEY, LoomRunnerResource
from trakt_dagster.loom.targets import TargetReader

RUN_TASK = "ETLRunner.run"
"""Key of the helper task that makes the `ETLRunner.run` call."""
START_TIMEOUT_S = 600.0


class LoomSelectionError(ValueError):
    """A selection loom cannot run (e.g. a RUN temp whose producer is left out)."""

    retryable = False


@dataclass
class LoomSession(PipelineSession):
    """What the tasks of one loom run share: the runner, the call's arguments, the observer."""

    pipeline: LoomPipeline | None = None
    runner: Any = None
    params: Any = None
    include: frozenset[str] | None = None
    run_keys: tuple[str, ...] = ()
    """Step occurrences the `run` call executes."""
    reused: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Step occurrences an earlier attempt of the correlation completed (left out of the call)."""
    correlation_id: str | None = None
    attempt: int = 1
    last_attempt: bool = True
    loom_run_id: str = ""
    observer: LoomRunObserver | None = None
    state: CorrelationState | None = None
    checkpoint_root: Path | None = None
    log: Any = None
    dagster_run_id: str = ""
    loom_error: BaseException | None = None
    loom_traceback: str = ""
    finished: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    called: bool = False
    op_log: Any = None
    """The op's `context.log`, whose managed Python loggers are bridged for the call (see `python_logs`)."""
    detach_logs: Any = None

    # -- the `run` call -----------------------------------------------------------------------------
    def launch(self, ctx: TaskContext) -> dict[str, Any]:
        """Start `runner.run(...)` in its own thread; return once loom started executing the plan."""
        assert self.pipeline is not None and self.observer is not None
        self.observer.on_line = lambda line: ctx.emit(line.level, line.message, dict(line.fields))
        record = self.describe()
        for key in self.reused:
            self.observer.resolve(StepOutcome(key, REUSED, reused=self.reused[key]))
        if not self.run_keys:
            ctx.log.info("every selected step already succeeded in an earlier attempt: loom is not called")
            if self.correlation_id and self.last_attempt:
                self.runner.cleanup_correlation(self.correlation_id)
            self.finished.set()
            self.observer.close("not run")
            return {**record, "called": False}
        self.observer.include_text = str(sorted(self.include)) if self.include is not None else "all steps"
        self.called = True
        self.detach_logs = bridge_python_logs(self.op_log)
        self.thread = threading.Thread(target=self._call, name=f"loom-{self.pipeline.name}", daemon=True)
        self.thread.start()
        while not self.observer.started.wait(0.2):
            if self.finished.is_set() or ctx.cancelled:
                break
        if not self.observer.started.is_set():
            self.finished.wait(START_TIMEOUT_S)
            error = self.loom_error or RuntimeError("loom did not start the pipeline")
            raise LoomRunError(self.pipeline.name, error, self.loom_traceback) from None
        return {**record, "called": True}

    def _call(self) -> None:
        assert self.pipeline is not None and self.observer is not None
        try:
            self.runner.run(
                self.pipeline.pipeline_class,
                self.params,
                include=sorted(self.include) if self.include is not None else None,
                correlation_id=self.correlation_id,
                run_id=self.loom_run_id,
                attempt=self.attempt,
                last_attempt=self.last_attempt,
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the steps (or as the run's error)
            self.loom_error = exc
            self.loom_traceback = "".join(traceback.format_exception(exc))
        finally:
            outcome = "failed" if self.loom_error is not None else "succeeded"
            self.finished.set()
            self.observer.close(f"not run: loom's run {outcome} before this step started")

    def wait_step(self, key: str, ctx: TaskContext) -> StepOutcome:
        """Relay a step's log lines to its task until loom reports its outcome."""
        assert self.observer is not None
        channel = self.observer.channel(key)
        import queue

        while True:
            try:
                item = channel.get(timeout=0.5)
            except queue.Empty:
                if ctx.cancelled:
                    return StepOutcome(key, NOT_RUN, reason="the Dagster run was stopped")
                continue
            if isinstance(item, StepLine):
                ctx.emit(item.level, item.message, dict(item.fields))
                continue
            return item

    # -- PipelineSession hooks ----------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        if (
            isinstance(event, TaskSucceeded)
            and self.state is not None
            and self.pipeline is not None
            and event.key in self.pipeline.by_key
            and event.key in self.run_keys
        ):
            self.state.record(event.key, run_id=self.dagster_run_id, attempt=self.attempt, loom_run_id=self.loom_run_id)

    def describe(self) -> dict[str, Any]:
        return {
            "include": sorted(self.include) if self.include is not None else None,
            "run_id": self.loom_run_id,
            "correlation_id": self.correlation_id,
            "attempt": self.attempt,
            "last_attempt": self.last_attempt,
            "reused": sorted(self.reused),
            "checkpoint_root": str(self.checkpoint_root) if self.checkpoint_root else None,
        }

    def manifest_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {**self.describe()}
        if self.observer is not None:
            extra["pipeline_status"] = self.observer.pipeline_status
            extra["pipeline_error"] = self.observer.pipeline_error
            extra["steps"] = {
                key: {
                    "status": o.status,
                    "duration_ms": o.duration_ms,
                    "error": f"{o.error_type}: {o.error}" if o.error_type else o.error,
                    "step_run_id": o.step_run_id,
                    **({"reused_from": o.reused} if o.reused else {}),
                    **{k: v for k, v in o.target.items() if k != "storage_options"},
                }
                for key, o in self.observer.outcomes().items()
            }
        if self.loom_error is not None:
            extra["error"] = f"{type(self.loom_error).__name__}: {self.loom_error}"
        return {"loom": extra}

    def merge_manifest_extra(self, extras: list[dict[str, Any]]) -> dict[str, Any]:
        """Step granularity: one loom report for the run from every op's `run` call (each step's outcome
        from the call that ran it; `run_ids` lists every call's loom run id)."""
        own = self.manifest_extra()
        reports = [e["loom"] for e in extras if "loom" in e]
        if not reports:
            return own
        merged = dict(own["loom"])
        steps: dict[str, Any] = {}
        for report in reports:
            for key, outcome in (report.get("steps") or {}).items():
                if key not in steps or steps[key].get("status") == "not_run":
                    steps[key] = outcome
        merged["steps"] = steps
        includes = [r.get("include") for r in reports]
        merged["include"] = None if None in includes else sorted({n for names in includes for n in names})
        merged["run_ids"] = [r.get("run_id") for r in reports]
        statuses = [r.get("pipeline_status") for r in reports]
        if "failed" in statuses:
            merged["pipeline_status"] = "failed"
            merged["pipeline_error"] = next(
                r.get("pipeline_error") for r in reports if r.get("pipeline_status") == "failed"
            )
        return {"loom": merged}

    def close(self, success: bool) -> None:
        if self.thread is not None and self.thread.is_alive() and self.finished.is_set() is False:
            self.finished.wait(5.0 if not success else START_TIMEOUT_S)
        if self.thread is not None:
            self.thread.join(timeout=5.0)
        if self.detach_logs is not None:
            self.detach_logs()
            self.detach_logs = None
        if self.state is not None:
            if success and self.last_attempt:
                self.state.reset()
            else:
                self.state.save()
        if self.log is None or self.pipeline is None:
            return
        if (
            not success
            and self.correlation_id
            and self.last_attempt
            and self.called
            and _writes_correlation_temps(self.pipeline)
        ):
            self.log(
                "warning",
                f"loom kept the CORRELATION temps of correlation {self.correlation_id} (the final attempt failed): a "
                f"re-execution from failure reuses them; otherwise call ETLRunner.cleanup_correlation("
                f"{self.correlation_id!r}) to remove them.",
            )


class LoomRunError(RuntimeError):
    """loom's `run` call failed before any step ran (bad include, compile error, configuration)."""

    retryable = False

    def __init__(self, pipeline: str, error: BaseException, traceback_text: str = "") -> None:
        self.error = error
        self.traceback_text = traceback_text
        super().__init__(f"ETLRunner.run({pipeline}) failed before any step ran: {type(error).__name__}: {error}")


def make_session_factory(pipeline: LoomPipeline):  # noqa: ANN201 - returns the factory closure
    """The `session_factory` of a loom graph."""

    def factory(request: SessionRequest) -> LoomSession:
        config = request.config
        run = request.run
        values = dict(getattr(config, "params", None).model_dump()) if config is not None else {}
        params = build_params(pipeline, values, run.partition_key)
        planned = [s.key for s in pipeline.steps if s.key in request.selected]
        resource: LoomRunnerResource = getattr(request.resources, LOOM_RUNNER_KEY, None) or LoomRunnerResource()
        folder = run.run_dir.parent
        checkpoint_root = resource.checkpoint_root(pipeline.config, pipeline.name, folder / "checkpoints")
        attempt = run.retry_number + 1
        settings = pipeline.settings
        cid = correlation_id(
            pipeline,
            settings.correlation_key,
            run_id=run.run_id,
            root_run_id=run.root_run_id,
            params=params,
            explicit=getattr(config, "correlation_id", None),
        )
        state = CorrelationState(folder / "correlations" / f"{cid}.json", cid) if cid else None
        resumed = attempt > 1 or run.reexecution == "from_failure"
        reused: dict[str, dict[str, Any]] = {}
        if state is not None and resumed:
            completed = state.completed()
            for key in reusable_steps(
                pipeline,
                planned,
                completed,
                correlation_temp_exists=lambda name: (
                    checkpoint_root is None or local_temp_exists(checkpoint_root, cid, name)
                ),
            ):
                reused[key] = completed[key]
        elif state is not None and run.retry_number == 0:
            state.reset()
        run_keys = tuple(k for k in planned if k not in reused)
        include = loom_include(pipeline, run_keys)
        check_temps(pipeline, run_keys, reused, cid, checkpoint_root)
        observer = LoomRunObserver(pipeline, read_target=TargetReader(pipeline, params))
        runner = resource.build_runner(
            pipeline.config,
            pipeline=pipeline.name,
            observers=[observer, *run_observers(pipeline.observers)],
            default_temp_root=folder / "checkpoints",
        )
        return LoomSession(
            run_id=run.run_id,
            pipeline=pipeline,
            runner=runner,
            params=params,
            include=include,
            run_keys=run_keys,
            reused=reused,
            correlation_id=cid,
            attempt=attempt,
            last_attempt=attempt >= (settings.retries + 1),
            loom_run_id=run.run_id if attempt == 1 else f"{run.run_id}-attempt-{attempt}",
            observer=observer,
            state=state,
            checkpoint_root=checkpoint_root,
            log=request.log,
            dagster_run_id=run.run_id,
            op_log=current_op_log(),
        )

    return factory


def loom_include(pipeline: LoomPipeline, run_keys: tuple[str, ...]) -> frozenset[str] | None:
    """loom's `include` for the step occurrences to run: their class names, or None for the whole plan."""
    if set(run_keys) == {s.key for s in pipeline.steps}:
        return None
    return frozenset(pipeline.step(key).name for key in run_keys)


def check_temps(
    pipeline: LoomPipeline,
    run_keys: tuple[str, ...],
    reused: Mapping[str, Any],
    cid: str | None,
    checkpoint_root: Path | None,
) -> None:
    """Refuse a call whose steps read a temp that neither this call nor a kept checkpoint provides."""
    running = set(run_keys)
    names = {pipeline.step(k).name for k in run_keys}
    for key in run_keys:
        step = pipeline.step(key)
        for temp in step.reads(DatasetKind.TEMP):
            producers = [s for s in pipeline.steps if s.temp_target is not None and s.temp_target.ref == temp.ref]
            if any(p.key in running or p.name in names for p in producers):
                continue
            scope = producers[0].temp_target.scope if producers else "run"
            writers = ", ".join(p.name for p in producers) or "(none)"
            if scope == "correlation" and cid and any(p.key in reused for p in producers):
                continue
            if (
                scope == "correlation"
                and cid
                and checkpoint_root is not None
                and local_temp_exists(checkpoint_root, cid, temp.ref)
            ):
                continue
            raise LoomSelectionError(
                f"{step.name} reads the {str(scope).upper()} temp '{temp.ref}' written by {writers}, which this run "
                f"does not include: loom removes RUN temps at the end of every run call, so the producer must run "
                f"in the same call. Include {writers} too."
            )


def _writes_correlation_temps(pipeline: LoomPipeline) -> bool:
    return any(s.temp_target is not None and s.temp_target.scope == "correlation" for s in pipeline.steps)


def step_of(pipeline: LoomPipeline, key: str) -> LoomStep:
    return pipeline.step(key)
