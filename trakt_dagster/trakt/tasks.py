"""The task callables of a trakt pipeline: load an input, run a step, write an output dataset."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.atomic import atomic_path
from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.graph import CheckDefinition, CheckOutcome, TaskResult
from trakt_dagster.core.metadata import PATH_KEY, TableMetadataSet, json_list, metadata_entries
from trakt_dagster.trakt.bindings import count_rows, map_step_result, resolve
from trakt_dagster.trakt.csv_io import delimiter_warning, read_options, resolve_input_paths
from trakt_dagster.trakt.metadata import TraktRunMetadataSet
from trakt_dagster.trakt.model import OutputDataset, PipelineSpec, StepSpec
from trakt_dagster.trakt.runtime import RUNNER_LOG, TraktSession


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
        delimiter = read_options(artifact.name, artifact.metadata or {}).get("delimiter", ",")
        if session.mode == "stream":
            data = _warn_on_first_chunk(attributed(data, None, task_ctx.task.key), task_ctx, artifact.name, delimiter)
        else:
            _warn_delimiter(task_ctx, artifact.name, data, delimiter)
        _check_lambda_rows(session, artifact.name, data)
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


def _check_lambda_rows(session: TraktSession, name: str, data: Any) -> None:
    """trakt's `LambdaRunner`: an input longer than `max_batch_rows` fails the run."""
    metadata = session.ctx.metadata
    limit = metadata.get("lambda.max_batch_rows") if metadata.get("runtime") == "lambda" else None
    try:
        rows = len(data)
    except TypeError:
        return
    if isinstance(limit, int) and rows > limit:
        raise ValueError(f"Lambda runner input exceeds max_batch_rows ({rows} > {limit}) for '{name}'.")


class RunStep:
    """Call a step handler `run(ctx, **inputs)` and map its returned dict to artifacts."""

    def __init__(self, spec: PipelineSpec, step: StepSpec, checks: tuple[CheckDefinition, ...] = ()) -> None:
        self.spec = spec
        self.step = step
        self.checks = checks

    def __call__(self, task_ctx: TaskContext, upstream: Mapping[str, Any]) -> TaskResult:
        session: TraktSession = task_ctx.session
        step = self.step
        bindings = session.bindings.get(step.id, step.bindings)
        artifacts = _merged(upstream)
        kwargs = {key: resolve(bindings[key], artifacts) for key in step.input_keys}
        rows_in = count_rows(kwargs)
        _emit(session, task_ctx, "step.started", step_id=step.id, rows_in=rows_in)
        reported: list[dict[str, Any]] = []
        session.bind_task(task_ctx, reported)
        RUNNER_LOG.info("Running step '%s'...", step.id)
        started = time.perf_counter()
        try:
            with self.spec.namespace.active() if self.spec.namespace is not None else nullcontext():
                returned = step.handler(session.ctx, **kwargs)
        except Exception as exc:
            if reported:
                exc.checks = self._check_outcomes(reported)
            if isinstance(exc, KeyError):
                _warn_missing_column(task_ctx, step.id, exc, kwargs)
            raise
        finally:
            session.bind_task(None)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        produced, metrics = map_step_result(step.id, step.output_bindings, returned)
        if session.mode == "stream":
            produced = {name: attributed(value, step.id) if _lazy(value) else value for name, value in produced.items()}
        session.save_shared_metadata()
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
        RUNNER_LOG.info(
            "Step '%s' completed (%.0fms, %s rows in -> %s rows out)",
            step.id,
            duration_ms,
            "?" if rows_in is None else rows_in,
            "?" if rows_out is None else rows_out,
        )
        session.steps_completed.append(step.id)
        record = {
            "rows_in": rows_in,
            "rows_out": rows_out,
            "duration_ms": duration_ms,
            "outputs": list(produced),
            "metrics": metrics,
        }
        metadata = {
            **metadata_entries(
                TraktRunMetadataSet,
                rows_in=rows_in,
                rows_out=rows_out,
                duration_ms=duration_ms,
                outputs=json_list(produced),
            ),
            **metadata_entries(TableMetadataSet, row_count=rows_out),
        }
        metadata.update({k: _metadata_value(v) for k, v in metrics.items()})  # the step's own `__metrics__`
        return TaskResult(value=produced, record=record, metadata=metadata, checks=self._check_outcomes(reported))

    def _check_outcomes(self, reported: list[dict[str, Any]]) -> list[CheckOutcome]:
        """Gate checks the step reported, limited to the checks declared when the pipeline loaded."""
        declared = {check.name for check in self.checks}
        outcomes = []
        for attrs in reported:
            name = str(attrs.get("check"))
            if name not in declared:
                continue
            measured = {k: _jsonable(v) for k, v in attrs.items() if k not in ("check", "passed", "severity")}
            outcomes.append(
                CheckOutcome(
                    name=name,
                    passed=bool(attrs.get("passed")),
                    severity="warn" if attrs.get("severity") == "warn" else "error",
                    description=f"quality gate '{attrs.get('gate', name)}' of step '{self.step.id}'",
                    metadata=measured,
                )
            )
        return outcomes


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
        counter = _RowCounter(data) if session.mode == "stream" and _lazy(data) else None
        with atomic_path(target) as tmp:
            adapter.write(
                counter if counter is not None else data,
                str(tmp),
                artifact_name=output.name,
                execution_mode=session.mode,
                artifact=output,
            )
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
        metadata = {
            PATH_KEY: dg.MetadataValue.path(os.path.abspath(target)),
            **metadata_entries(
                TableMetadataSet,
                row_count=rows if rows is not None or counter is None else counter.rows,
                column_schema=_table_schema(data if counter is None else counter.first),
            ),
        }
        record = {
            "name": output.name,
            "path": str(target),
            "rows": rows,
            "kind": kind,
            "source": output.source,
        }
        return TaskResult(value=None, record=record, metadata=metadata)


def attributed(stream: Any, step_id: str | None, task_key: str | None = None) -> Any:
    """Yield from `stream`; an error raised while iterating is tagged with the step it comes from
    (`error.step_id`, None for inputs) unless an upstream stream tagged it already (trakt N8), and with the
    task that produced the stream (`error.task_key`, e.g. `input:src`) so the manifest marks that task
    failed rather than the output that was reading it."""
    try:
        yield from stream
    except Exception as exc:
        if not hasattr(exc, "step_id"):
            with suppress(AttributeError):  # exceptions without __dict__ stay untagged
                exc.step_id = step_id
                if task_key is not None:
                    exc.task_key = task_key
        raise


def _warn_delimiter(task_ctx: TaskContext, name: str, frame: Any, delimiter: Any) -> None:
    hint = delimiter_warning(frame, delimiter)
    if hint:
        task_ctx.log.warning(
            "input '%s' %s: set metadata: {delimiter: ...} (or delimiter: auto) on the input", name, hint
        )


def _warn_on_first_chunk(stream: Any, task_ctx: TaskContext, name: str, delimiter: Any) -> Any:
    first = True
    for chunk in stream:
        if first:
            _warn_delimiter(task_ctx, name, chunk, delimiter)
            first = False
        yield chunk


def _warn_missing_column(task_ctx: TaskContext, step_id: str, exc: KeyError, inputs: Mapping[str, Any]) -> None:
    """A step that failed looking up a key its input frames lack: say which columns they do have."""
    missing = exc.args[0] if exc.args else None
    frames = {
        f"{name}.{key}" if key is not None else name: value
        for name, found in inputs.items()
        for key, value in (found.items() if isinstance(found, Mapping) else [(None, found)])
        if hasattr(value, "columns")
    }
    if not isinstance(missing, str) or not frames or any(missing in frame.columns for frame in frames.values()):
        return
    columns = "; ".join(f"{name}: {', '.join(map(str, frame.columns[:20]))}" for name, frame in frames.items())
    task_ctx.log.warning(
        "step '%s' failed looking up %r, which none of its input frames has (columns %s): check the input's "
        "delimiter and header, or the step's column name",
        step_id,
        missing[:80],
        columns,
    )


def _lazy(value: Any) -> bool:
    """A stream: an iterable that is not a frame, a string or a materialized container."""
    return (
        hasattr(value, "__iter__")
        and not hasattr(value, "to_csv")
        and not isinstance(value, str | bytes | list | tuple | dict | set)
    )


class _RowCounter:
    """Passes stream chunks through while counting their rows and keeping the first chunk (for the schema)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.rows = 0
        self.first: Any = None

    def __iter__(self):  # noqa: ANN204 - a generator
        for chunk in self.stream:
            if self.first is None:
                self.first = chunk.head(0) if hasattr(chunk, "head") else None
            self.rows += len(chunk) if hasattr(chunk, "__len__") else 0
            yield chunk


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
