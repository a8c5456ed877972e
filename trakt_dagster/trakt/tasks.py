"""The task callables of a trakt pipeline: load an input, run a step, write an output dataset."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.atomic import atomic_path
from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.graph import TaskResult
from trakt_dagster.trakt.bindings import count_rows, map_step_result, resolve
from trakt_dagster.trakt.csv_io import resolve_input_paths
from trakt_dagster.trakt.model import OutputDataset, PipelineSpec, StepSpec
from trakt_dagster.trakt.runtime import TraktSession


def _merged(upstream: Mapping[str, Any]) -> dict[str, Any]:
    artifacts: dict[str, Any] = {}
    for value in upstream.values():
        if isinstance(value, Mapping):
            artifacts.update(value)
    return artifacts


class LoadInput:
    """Read one input's files (trakt: all inputs are loaded before the first step)."""

    def __init__(self, spec: PipelineSpec, name: str) -> None:
        self.artifact = spec.input(name)

    def __call__(self, task_ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: TraktSession = task_ctx.session
        artifact = self.artifact
        source = session.input_sources[artifact.name]
        adapter = session.adapters.resolve(artifact.kind)
        paths = resolve_input_paths(artifact.name, source, session.input_dir, adapter.file_extension)
        data = adapter.read_many(paths, artifact=artifact, execution_mode=session.mode, chunk_size=session.chunk_size)
        record = {"name": artifact.name, "source": source, "files_read": len(paths), "kind": artifact.kind}
        session.ctx.metadata.setdefault("input_stats", {})[artifact.name] = {
            "files_read": len(paths),
            "rows": count_rows(data),
        }
        _emit(
            session,
            task_ctx,
            "input.loaded",
            input_name=artifact.name,
            file_count=len(paths),
            combine_strategy=artifact.combine_strategy.value,
            artifact_kind=artifact.kind,
            execution_mode=session.mode,
        )
        task_ctx.log.info("read %d file(s) for input '%s' from %s", len(paths), artifact.name, source)
        return TaskResult(value={artifact.name: data}, record=record)


class RunStep:
    """Call a step handler `run(ctx, **inputs)` and map its returned dict to artifacts."""

    def __init__(self, spec: PipelineSpec, step: StepSpec) -> None:
        self.spec = spec
        self.step = step

    def __call__(self, task_ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: TraktSession = task_ctx.session
        step = self.step
        bindings = session.bindings.get(step.id, step.bindings)
        artifacts = _merged(upstream)
        kwargs = {key: resolve(bindings[key], artifacts) for key in step.input_keys}
        rows_in = count_rows(kwargs)
        _emit(session, task_ctx, "step.started", step_id=step.id, rows_in=rows_in)
        session.bind_task(task_ctx)
        started = time.perf_counter()
        try:
            with self.spec.namespace.active() if self.spec.namespace is not None else nullcontext():
                returned = step.handler(session.ctx, **kwargs)
        finally:
            session.bind_task(None)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        produced, metrics = map_step_result(step.id, step.output_bindings, returned)
        rows_out = count_rows(produced)
        _emit(
            session,
            task_ctx,
            "step.completed",
            step_id=step.id,
            duration_ms=duration_ms,
            rows_in=rows_in,
            rows_out=rows_out,
            metrics=metrics,
        )
        task_ctx.log.info(
            "Step '%s' completed (%sms, %s rows in -> %s rows out)", step.id, duration_ms, rows_in, rows_out
        )
        record = {
            "rows_in": rows_in,
            "rows_out": rows_out,
            "duration_ms": duration_ms,
            "outputs": list(produced),
            "metrics": metrics,
        }
        metadata: dict[str, Any] = {
            "trakt/rows_in": rows_in,
            "trakt/rows_out": rows_out,
            "trakt/duration_ms": duration_ms,
            "trakt/outputs": list(produced),
        }
        if rows_out is not None:
            metadata["dagster/row_count"] = rows_out
        metadata.update({k: _metadata_value(v) for k, v in metrics.items()})
        return TaskResult(value=produced, record=record, metadata=metadata)


class WriteOutput:
    """Write one output dataset through its adapter, atomically (temp file, then rename)."""

    def __init__(self, spec: PipelineSpec, output: OutputDataset) -> None:
        self.output = output

    def __call__(self, task_ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: TraktSession = task_ctx.session
        output = self.output
        data = _merged(upstream)[output.source]
        kind = output.kind or session.output_kind
        adapter = session.adapters.resolve(kind)
        target = output_path(output, session.output_dir, adapter.file_extension)
        with atomic_path(target) as tmp:
            adapter.write(data, str(tmp), artifact_name=output.name, execution_mode=session.mode, artifact=output)
        rows = count_rows(data)
        _emit(
            session,
            task_ctx,
            "output.written",
            output_name=output.name,
            source_name=output.source,
            path=str(target),
            artifact_kind=kind,
            execution_mode=session.mode,
        )
        task_ctx.log.info("wrote output '%s' to %s", output.name, target)
        metadata: dict[str, Any] = {
            "path": dg.MetadataValue.path(os.path.abspath(target)),
            "trakt/source": output.source,
        }
        if rows is not None:
            metadata["dagster/row_count"] = rows
        schema = _table_schema(data)
        if schema is not None:
            metadata["dagster/column_schema"] = schema
        record = {
            "name": output.name,
            "path": str(target),
            "rows": rows,
            "kind": kind,
            "source": output.source,
        }
        return TaskResult(value=None, record=record, metadata=metadata)


def output_path(output: OutputDataset, output_dir: str, extension: str) -> Path:
    """Where a dataset is written: its `uri` (absolute or under the output dir), else `<name><ext>`."""
    if output.uri:
        uri = Path(output.uri)
        return uri if uri.is_absolute() else Path(output_dir) / uri
    return Path(output_dir) / f"{output.name}{extension}"


def _emit(session: TraktSession, task_ctx: TaskContext, name: str, **attrs: Any) -> None:
    session.bind_task(task_ctx)
    try:
        session.ctx.emit_event(name, **attrs)
    finally:
        session.bind_task(None)


def _metadata_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Mapping | list | tuple):
        return dg.MetadataValue.json(_jsonable(value))
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _table_schema(data: Any) -> dg.TableSchema | None:
    dtypes = getattr(data, "dtypes", None)
    columns = getattr(data, "columns", None)
    if dtypes is None or columns is None:
        return None
    return dg.TableSchema(columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in zip(columns, dtypes)])
