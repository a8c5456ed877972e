"""The task callables of a loom graph: the `ETLRunner.run` call, one waiter per step, one per shared table.

* `StartLoomRun` (the helper task `ETLRunner.run`, not an asset) starts the pipeline's one `run` call and
  returns when loom began executing the plan; an error before that (an unknown include name, a compile
  error against the runner's config) fails it, and every step is then skipped, not run.
* `AwaitStep` waits for its step's outcome from the adapter's observer and reports it: success → the
  step's asset is materialized (duration, rows, target, Delta version); failure → the task fails with
  loom's error type and message; a step an earlier attempt completed → succeeded, not materialized again.
* `ReportDataset` stands for a table (or file) several steps write: one asset, materialized once its
  writers succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.graph import TaskResult
from trakt_dagster.core.metadata import LocationMetadataSet, TableMetadataSet, json_list
from trakt_dagster.loom.metadata import LoomRunMetadataSet
from trakt_dagster.loom.model import Dataset, LoomPipeline, LoomStep
from trakt_dagster.loom.observer import FAILED, NOT_RUN, REUSED, StepOutcome
from trakt_dagster.loom.runtime import LoomSession
from trakt_dagster.loom.targets import dataset_uri, delta_commit


class LoomStepFailed(RuntimeError):
    """A loom step raised; the message is loom's error type and text."""

    def __init__(self, step: LoomStep, outcome: StepOutcome) -> None:
        self.error_type = outcome.error_type or "Error"
        self.loom_error = outcome.error or ""
        super().__init__(f"loom step {step.name} failed: {self.error_type}: {self.loom_error}")


class LoomStepNotRun(RuntimeError):
    """loom ended its run without starting the step."""

    retryable = False


class StartLoomRun:
    """`run(ctx, upstream)` of the helper task `ETLRunner.run`."""

    def __init__(self, pipeline: LoomPipeline) -> None:
        self.pipeline = pipeline

    def __call__(self, ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: LoomSession = ctx.session
        record = session.launch(ctx)
        return TaskResult(record={"loom": record})


class AwaitStep:
    """`run(ctx, upstream)` of one step occurrence's task."""

    def __init__(self, pipeline: LoomPipeline, step: LoomStep) -> None:
        self.pipeline = pipeline
        self.step = step

    def __call__(self, ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: LoomSession = ctx.session
        step = self.step
        outcome = session.wait_step(step.key, ctx)
        if outcome.status == FAILED:
            raise LoomStepFailed(step, outcome)
        if outcome.status == NOT_RUN:
            raise LoomStepNotRun(f"loom step {step.name} did not run: {outcome.reason}")
        record = {
            "loom_step": step.name,
            "process": step.process,
            "target": step.target.label if step.target is not None else None,
            "attempt": session.attempt,
        }
        if outcome.status == REUSED:
            ctx.log.info(
                f"loom step {step.name} already succeeded in attempt {(outcome.reused or {}).get('attempt')} "
                f"of correlation {session.correlation_id}: not run again"
            )
            return TaskResult(value=outcome, materialize=False, record={**record, "reused_from": outcome.reused})
        metadata = step_metadata(self.pipeline, step, outcome, session)
        record.update(
            {
                "duration_ms": outcome.duration_ms,
                "rows_out": outcome.target.get("rows"),
                "target_uri": outcome.target.get("uri"),
                "delta_version": outcome.target.get("delta_version"),
            }
        )
        return TaskResult(value=outcome, metadata=metadata, record=record)


class ReportDataset:
    """`run(ctx, upstream)` of a table or file written by several steps (one asset for all writers)."""

    def __init__(self, pipeline: LoomPipeline, dataset: Dataset, writers: tuple[str, ...]) -> None:
        self.pipeline = pipeline
        self.dataset = dataset
        self.writers = writers

    def __call__(self, ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: LoomSession = ctx.session
        outcomes = [upstream[k] for k in self.writers if isinstance(upstream.get(k), StepOutcome)]
        ran = [o for o in outcomes if o.status != REUSED]
        record = {"name": self.dataset.ref, "writers": list(self.writers), "kind": str(self.dataset.kind)}
        if not ran:
            return TaskResult(materialize=False, record=record)
        uri = dataset_uri(self.pipeline, self.dataset, session.params)
        if uri:
            record["uri"] = uri
        delta_version = None
        if self.dataset.kind.value == "table" and uri:
            found = self.pipeline.config.table_location(self.dataset.ref)
            try:
                commit = delta_commit(uri, found[1] if found else None)
            except Exception as exc:  # noqa: BLE001 - the writes succeeded; only metadata is missing
                ctx.log.warning(f"cannot read the Delta log of {uri}: {exc}")
            else:
                delta_version = record["delta_version"] = commit["delta_version"]
        rows = [o.target.get("rows") for o in ran if isinstance(o.target.get("rows"), int)]
        metadata = {
            **LoomRunMetadataSet(
                writers=json_list(self.pipeline.step(k).name for k in self.writers),
                attempt=session.attempt,
                duration_ms=round(sum(o.duration_ms or 0.0 for o in ran), 3),
                correlation_id=session.correlation_id or None,
                delta_version=delta_version,
            ),
            **LocationMetadataSet.of(uri),
            **TableMetadataSet(row_count=sum(rows) if rows else None),
        }
        return TaskResult(metadata=metadata, record=record)


def step_metadata(pipeline: LoomPipeline, step: LoomStep, outcome: StepOutcome, session: LoomSession) -> dict[str, Any]:
    """Materialization metadata of a step: loom's status and duration, what it wrote, the run's ids."""
    target = outcome.target
    return {
        **LoomRunMetadataSet(
            status="success",
            duration_ms=round(outcome.duration_ms or 0.0, 3),
            attempt=session.attempt,
            run_id=session.loom_run_id,
            correlation_id=session.correlation_id or None,
            step_run_id=outcome.step_run_id or None,
            delta_version=target.get("delta_version"),
            target_error=target.get("error") or None,
        ),
        **LocationMetadataSet.of(str(target["uri"]) if target.get("uri") else None),
        **TableMetadataSet(row_count=target.get("rows")),
    }
