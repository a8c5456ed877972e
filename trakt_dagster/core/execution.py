"""The bridge between the runner and Dagster: run a selection of a graph inside one op.

Turns runner events into `MaterializeResult`s (in dependency order), asset check results, Dagster log
lines, per-task log files and manifest rewrites; fails the op when any task failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.context import RunInfo
from trakt_dagster.core.events import (
    RunFinished,
    TaskFailed,
    TaskLogged,
    TaskReported,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from trakt_dagster.core.graph import CheckOutcome, Granularity, TaskGraph
from trakt_dagster.core.manifest import RunManifest
from trakt_dagster.core.monitoring import finalize_run_folders, record_run_worker
from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.progress import ProgressTracker
from trakt_dagster.core.redact import Redactor
from trakt_dagster.core.resources import RUN_STORAGE_KEY, RunStorage
from trakt_dagster.core.retention import RetentionPolicy, apply_retention, env_default
from trakt_dagster.core.reuse import ReuseRequest, reexecution_kind
from trakt_dagster.core.run_folder import RunFolder
from trakt_dagster.core.run_log import RunLogBatcher
from trakt_dagster.core.runner import TaskRunner, plan_tasks
from trakt_dagster.core.session import PipelineSession, SessionRequest
from trakt_dagster.core.triggers import OVERLAP_TAG, wait_for_earlier_runs
from trakt_dagster.core.values import ValueStore

_LEVELS = {"debug", "info", "warning", "error", "critical"}


@dataclass(frozen=True)
class GraphBinding:
    """How one graph's tasks map onto Dagster names (computed once by the builder).

    Example:
        >>> # binding.asset_keys["clean"] -> AssetKey(["sales", "clean"])
    """

    graph: TaskGraph
    asset_keys: Mapping[str, dg.AssetKey]
    check_names: Mapping[tuple[str, str], str]
    """(task key, check name) → Dagster check name."""


def run_folder_path(runs_dir: str | Path, graph: TaskGraph, run_id: str) -> Path:
    """`<runs_dir>/<pipeline>/<dagster run id>`: where one run of one pipeline keeps its files."""
    return Path(runs_dir) / dagster_name(graph.name) / run_id


def execute_graph(
    context: dg.OpExecutionContext,
    binding: GraphBinding,
    *,
    runs_dir: str,
    config: Any = None,
    selected: set[str] | None = None,
    provided: Mapping[str, Any] | None = None,
    granularity: Granularity = Granularity.PIPELINE,
    run_plan: list[str] | None = None,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization | dg.AssetCheckResult | dg.Output]:
    """Run `selected` tasks of a graph (plus the ancestors they need) and report them to Dagster.

    Pipeline granularity yields one `MaterializeResult` per selected asset task. Step granularity
    (one op per task, `selected` = that task) yields its value as an `Output` for the IO manager, and
    merges its manifest with the other ops' (`run_plan`: every task the whole run executes).
    """
    step_mode = granularity is Granularity.STEP
    graph = binding.graph
    run_id = context.run_id
    _record_worker(context)
    if context.run.tags.get(OVERLAP_TAG) == "wait":
        wait_for_earlier_runs(context.instance, context.job_name, run_id, context.log.info)
    started = _run_start(context) if step_mode else datetime.now(UTC)
    run_dir = run_folder_path(runs_dir, graph, run_id)
    if context.run.parent_run_id:
        _finalize_parent(context, run_folder_path(runs_dir, graph, context.run.parent_run_id))
    run_info = RunInfo(
        run_id=run_id,
        pipeline=graph.name,
        tool=graph.tool,
        run_dir=run_dir,
        started_at=started,
        tags=dict(context.run.tags),
        granularity=str(granularity),
        partition_key=context.partition_key if context.has_partition_key else None,
        partition_keys=tuple(context.partition_keys) if context.has_partition_key or _has_range(context) else (),
        parent_run_id=context.run.parent_run_id,
        root_run_id=context.run.root_run_id,
        reexecution=_reexecution(context),
        retry_number=context.retry_number,
    )
    store = ValueStore(run_dir.parent) if graph.persist_values and not step_mode else None
    provided = dict(provided or {})
    session_error: BaseException | None = None
    plan = None
    if store is not None and graph.reuse_values is not None:
        try:
            plan = graph.reuse_values(
                ReuseRequest(
                    run=run_info,
                    selected=frozenset(selected) if selected is not None else None,
                    store=store,
                    config=config,
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported in the manifest and as the op failure
            session_error = exc
        else:
            if plan is not None:
                selected = set(plan.selected)
                provided.update(plan.provided)
    if store is not None and selected is not None and plan is None:
        provided.update(_stored_upstream(graph, selected, store, run_info))
    if selected is not None and not graph.subset_runs_ancestors:
        provided.update(_selection_only(graph, selected))
    planned = plan_tasks(graph, selected, provided)

    def write_log(level: str, text: str) -> None:
        getattr(context.log, level)(text)

    run_log = RunLogBatcher(write_log)

    def dagster_log(level: str, message: str) -> None:
        run_log.line(level if level in _LEVELS else "info", redactor.text(message))

    def task_log(key: str, level: str, message: str) -> None:
        if graph.task_log_files:
            folder.log(key, level, message)

    redactor = Redactor()
    session: PipelineSession | None = None
    try:
        if session_error is None and graph.session_factory is not None:
            session = graph.session_factory(
                SessionRequest(
                    run=run_info,
                    config=config,
                    resources=context.resources,
                    log=dagster_log,
                    selected=frozenset(planned),
                    instance=context.instance,
                    run_plan=frozenset(run_plan or planned),
                )
            )
    except Exception as exc:  # noqa: BLE001 - reported in the manifest and as the op failure
        session_error = exc
    if session is None:
        session = PipelineSession(run_id=run_id)
    redactor.add(session.secrets)

    manifest = RunManifest(
        graph,
        run_id=session.run_id,
        dagster_run_id=run_id,
        run_folder=run_dir,
        pipeline_version=session.pipeline_version,
        granularity=str(granularity),
        asset_keys={k: v.to_user_string() for k, v in binding.asset_keys.items()},
        planned=planned,
        selected=selected,
    )
    manifest.extra = session.manifest_extra
    if session.manifest_copies:
        manifest.header["manifest_copies"] = [str(p) for p in session.manifest_copies]
    manifest.merge_extra = session.merge_manifest_extra
    folder = RunFolder(
        run_dir,
        manifest,
        copies=session.manifest_copies,
        redactor=redactor,
        fragment=next(iter(selected)) if step_mode and selected else None,
        run_plan=run_plan or planned,
    )
    try:
        folder.create()
        if graph.snapshot is not None and not (folder.path / "project").exists():
            folder.snapshot(graph.snapshot, exclude=session.snapshot_exclude)
        folder.write_manifest()
    except BaseException:
        run_log.flush()  # what the session logged while it was set up
        raise
    context.log.info(f"Run folder: {run_dir}")

    if session_error is not None:
        manifest.fail(session_error)
        manifest.finish(success=False)
        folder.write_manifest()
        run_log.flush()
        raise dg.Failure(
            description=redactor.text(f"{type(session_error).__name__}: {session_error}"),
            metadata={"manifest": dg.MetadataValue.path(str(folder.manifest_path))},
            allow_retries=False,
        )

    runner = TaskRunner(
        graph,
        run_info=run_info,
        session=session,
        manual_ack=True,
        on_value=(lambda key, value: store.save(run_id, key, value)) if store is not None else None,
        idle=lambda: _idle(folder, run_log),
        before_task=folder.open_log if graph.task_log_files else None,
    )
    labels = graph.labels  # what the run log calls a task whose key is not the user's name for it
    progress = ProgressTracker(graph.name, len(planned), lambda line: dagster_log("info", line), labels)
    success = False
    finished = False
    failures: list[TaskFailed] = []
    deferred: list[tuple[str, dg.MaterializeResult]] = []
    try:
        for event in runner.execute(selected, provided):
            if isinstance(event, TaskLogged):
                manifest.task_logged(event)
                text = _with_fields(event.message, redactor.data(event.fields))
                task_log(event.key, event.level, text)
                dagster_log(event.level, f"[{labels.get(event.key, event.key)}] {text}")
                _notify(session, event, dagster_log)
                _checkpoint(runner, folder, run_log)
                continue
            if isinstance(event, TaskReported):
                yield event.payload
                _checkpoint(runner, folder, run_log)
                continue
            if isinstance(event, TaskStarted):
                manifest.task_started(event)
                if graph.task_log_files:
                    folder.defer_open(event.key)  # its worker creates the file (and writes this line) first
                task_log(event.key, "info", "started")
                progress.started(event.key)
            elif isinstance(event, TaskRetrying):
                manifest.task_retrying(event)
                line = (
                    f"--- retry attempt {event.attempt}/{event.max_attempts} --- after "
                    f"{type(event.error).__name__}: {_first_line(event.error)}"
                )
                task_log(event.key, "warning", line)
                dagster_log("warning", f"[{labels.get(event.key, event.key)}] {line}")
            elif isinstance(event, TaskSucceeded):
                is_selected = selected is None or event.key in selected
                task = graph.by_key[event.key]
                materialize = (
                    task.is_asset and is_selected and event.key in binding.asset_keys and event.result.materialize
                )
                manifest.task_succeeded(event, materialized=materialize)
                task_log(event.key, "info", f"succeeded in {event.duration_ms:.1f} ms")
                progress.ended(event.key, "succeeded", event.duration_ms / 1000)
                if materialize and step_mode:
                    stored = _store_step_value(run_dir, run_id, event, manifest)
                    folder.write_manifest()
                    if stored is not None:
                        failures.append(stored)
                        break
                    yield dg.Output(
                        event.result.value,
                        metadata=_clean_metadata(event.result.metadata, redactor),
                    )
                    for outcome in event.result.checks:
                        yield _check_result(binding, event.key, outcome, redactor)
                elif materialize and graph.materialization_events and not graph.defer_materializations:
                    yield dg.AssetMaterialization(
                        asset_key=binding.asset_keys[event.key],
                        metadata=_clean_metadata(event.result.metadata, redactor),
                    )
                    for outcome in event.result.checks:
                        yield _check_result(binding, event.key, outcome, redactor)
                elif materialize:
                    result = dg.MaterializeResult(
                        asset_key=binding.asset_keys[event.key],
                        metadata=_clean_metadata(event.result.metadata, redactor),
                        check_results=[
                            _check_result(binding, event.key, outcome, redactor) for outcome in event.result.checks
                        ],
                    )
                    if graph.defer_materializations:
                        deferred.append((event.key, result))
                    else:
                        yield result
            elif isinstance(event, TaskFailed):
                failures.append(event)
                manifest.task_failed(event)
                folder.pacer.urgent()
                message = redactor.text(f"{type(event.error).__name__}: {event.error}")
                task_log(event.key, "error", f"failed after {event.attempts} attempt(s): {message}")
                task_log(event.key, "error", event.traceback_text)
                progress.ended(event.key, "failed", event.duration_ms / 1000)
                dagster_log("error", f"Task '{event.key}' failed: {message}\n{event.traceback_text}")
                for outcome in getattr(event.error, "checks", ()):
                    if event.key in binding.asset_keys:
                        yield _check_result(binding, event.key, outcome, redactor)
            elif isinstance(event, TaskSkipped):
                manifest.task_skipped(event)
                task_log(event.key, "warning", f"skipped: {event.reason}")
                progress.ended(event.key, "skipped")
                dagster_log("warning", f"Task '{event.key}' skipped: {event.reason}")
            elif isinstance(event, RunFinished):
                success = event.success
                finished = True
            folder.dirty = True
            _notify(session, event, dagster_log)
            _checkpoint(runner, folder, run_log)
    finally:
        if not finished:
            manifest.interrupt("the run stopped before all its tasks finished (terminated or interrupted)")
        manifest.finish(success=success)
        try:
            session.close(success)
        finally:
            try:
                folder.write_manifest()
            finally:
                folder.close_logs()  # (also in step granularity, whose merged manifest may still be running)
            _retain(context, graph, run_dir, prune_current=not step_mode, log=dagster_log)
            run_log.flush()
    for key, result in deferred:
        if manifest.succeeded(key):
            yield result
    if not success:
        first = failures[0] if failures else None
        description = (
            redactor.text(f"Task '{first.key}' failed: {type(first.error).__name__}: {first.error}")
            if first
            else "The run did not complete all tasks."
        )
        others = [f"'{f.key}' ({type(f.error).__name__}: {_first_line(f.error)})" for f in failures[1:]]
        if others:
            description += redactor.text(f"\nAlso failed: {'; '.join(others)}")
        raise dg.Failure(
            description=description,
            metadata={
                "manifest": dg.MetadataValue.path(str(folder.manifest_path)),
                "failed_tasks": [f.key for f in failures],
            },
            allow_retries=True,
        )


def _record_worker(context: dg.OpExecutionContext) -> None:
    try:
        record_run_worker(context)
    except Exception as exc:  # noqa: BLE001 - run monitoring is a safety net, never a reason to fail a run
        context.log.warning(f"Could not record the run worker for run monitoring: {exc}")


def _finalize_parent(context: dg.OpExecutionContext, parent_dir: Path) -> None:
    """A re-execution of a run that died: its manifest (still `running`) gets its final state first."""
    parent = context.instance.get_run_by_id(context.run.parent_run_id or "")
    if parent is not None and parent.is_finished:
        reason = f"the run ended as {parent.status.value} while this manifest still said running (its worker died)"
        finalize_run_folders([parent_dir], reason)


def _retain(context: Any, graph: TaskGraph, run_dir: Path, *, prune_current: bool, log: Any) -> None:
    """Apply the pipeline's run folder retention (its own setting over the root default) as the run ends.

    Never fails the run: a problem is logged as a warning. Step granularity leaves this run's own folders
    to a later run (later ops of this run still need them)."""
    storage = getattr(context.resources, RUN_STORAGE_KEY, None)
    default = storage.retention() if isinstance(storage, RunStorage) else RetentionPolicy()
    policy = (graph.retention or RetentionPolicy()).over(default.over(env_default()))
    if not policy.active:
        return
    try:
        removed = apply_retention(
            run_dir.parent,
            policy,
            current_run_id=run_dir.name,
            prune_current=prune_current,
            finished=lambda run_ids: finished_runs(context.instance, run_ids),
        )
    except Exception as exc:  # noqa: BLE001 - retention never fails a run
        log("warning", f"Run folder retention of '{graph.name}' failed: {type(exc).__name__}: {exc}")
        return
    if removed:
        log("info", f"Retention removed {len(removed)} earlier run folder(s) of '{graph.name}'")


def finished_runs(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, bool]:
    """For the runs `instance` knows: whether each is finished (success, failure or canceled)."""
    found: dict[str, bool] = {}
    for start in range(0, len(run_ids), 500):
        chunk = run_ids[start : start + 500]
        for record in instance.get_run_records(dg.RunsFilter(run_ids=chunk)):
            found[record.dagster_run.run_id] = record.dagster_run.is_finished
    return found


def _selection_only(graph: TaskGraph, selected: set[str]) -> dict[str, None]:
    """For graphs whose selections run only the selected tasks (pit's `run dag/task`): the unselected asset
    tasks they depend on count as done; helper tasks (not assets) they need still run."""
    done: dict[str, None] = {}
    pulled: set[str] = set()
    stack = list(selected)
    while stack:
        task = graph.by_key[stack.pop()]
        for dep in task.deps:
            if dep in selected or dep in pulled:
                continue
            runs_with = not graph.by_key[dep].is_asset and (task.selection_pulls is None or dep in task.selection_pulls)
            if runs_with:
                pulled.add(dep)
                done.pop(dep, None)
                stack.append(dep)
            else:
                done[dep] = None
    return done


def _run_start(context: dg.OpExecutionContext) -> datetime:
    """Step granularity: when the Dagster run started (the same for every op of the run, so run ids a tool
    derives from the start time agree across ops), else now."""
    try:
        record = context.instance.get_run_record_by_id(context.run_id)
        if record is not None and record.start_time:
            return datetime.fromtimestamp(record.start_time, UTC)
    except Exception:  # noqa: BLE001 - no record (yet): the op's own start
        pass
    return datetime.now(UTC)


def _has_range(context: dg.OpExecutionContext) -> bool:
    try:
        return bool(context.has_partition_key_range)
    except Exception:  # noqa: BLE001 - an unpartitioned run
        return False


def _reexecution(context: dg.OpExecutionContext) -> str | None:
    """`from_failure` / `all_steps` for a re-execution (see `core.reuse.reexecution_kind`), else None."""
    run = context.run
    known = None
    if run.parent_run_id and run.execution_plan_snapshot_id:
        try:
            snapshot = context.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            known = getattr(snapshot.initial_known_state, "parent_state", None)
        except Exception:  # noqa: BLE001 - no snapshot: treat as a re-execution of all steps
            known = None
    return reexecution_kind(run.parent_run_id, run.tags, known)


def _checkpoint(runner: TaskRunner, folder: RunFolder, run_log: RunLogBatcher) -> None:
    """Once no further event is waiting: rewrite the manifest if it changed and a write is due (see
    `WritePacer`), then let announced tasks start. Bursts of events cost one write (a task's end and the
    start of the task it unblocks are one burst); while writes are due at once (a short run, the first
    events of a long one, after a failure), a task never starts before the manifest shows it running.
    Task log lines are written then too, and run-log lines when due."""
    run_log.flush_if_due()
    if runner.pending():
        return
    folder.flush_logs()
    if folder.write_due() == 0.0:
        folder.write_manifest()
    runner.acknowledge()


def _idle(folder: RunFolder, run_log: RunLogBatcher) -> float | None:
    """While the runner waits for events: do the deferred writes that became due; returns how long the runner
    may wait before the next one is due (None: nothing deferred)."""
    folder.flush_logs()
    logs = run_log.flush_if_due()
    manifest = folder.write_due()
    if manifest == 0.0:
        folder.write_manifest()
        manifest = folder.write_due()
    waits = [w for w in (logs, manifest) if w is not None]
    return min(waits) if waits else None


def _stored_upstream(graph: TaskGraph, selected: set[str], store: ValueStore, run: RunInfo) -> dict[str, Any]:
    """Values of unselected upstream tasks stored by the parent run (re-execution) or the newest run."""
    found: dict[str, Any] = {}
    seen: set[str] = set()
    stack = [dep for key in selected for dep in graph.by_key[key].deps if dep not in selected]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        run_id = store.find(key, [run.parent_run_id])
        if run_id is not None:
            try:
                found[key] = store.load(key, run_id)
                continue
            except Exception:  # noqa: BLE001 - unreadable value: recompute the task instead
                pass
        stack.extend(dep for dep in graph.by_key[key].deps if dep not in selected)
    return found


def _store_step_value(run_dir: Path, run_id: str, event: TaskSucceeded, manifest: RunManifest) -> TaskFailed | None:
    """Step granularity: store the value for the next ops now, so a value that cannot be stored fails
    this task (and the manifest says so) instead of failing later inside Dagster's IO manager."""
    try:
        ValueStore(run_dir.parent).save(run_id, event.key, event.result.value)
    except Exception as exc:  # noqa: BLE001 - reported as the task's failure
        failed = TaskFailed(
            event.key,
            error=exc,
            attempts=event.attempts,
            started_at=event.started_at,
            finished_at=datetime.now(UTC),
            duration_ms=event.duration_ms,
            traceback_text="",
        )
        manifest.task_failed(failed)
        return failed
    return None


def _notify(session: PipelineSession, event: Any, log: Any) -> None:
    try:
        session.on_event(event)
    except Exception as exc:  # noqa: BLE001 - tool hooks never fail a run
        log("warning", f"{type(session).__name__}.on_event failed on {type(event).__name__}: {exc!r}")


def _first_line(error: BaseException) -> str:
    """The first line of an error's message (retry lines stay one line; the last failure keeps all)."""
    text = str(error)
    return text.splitlines()[0] if text else ""


def _with_fields(message: str, fields: Mapping[str, Any]) -> str:
    if not fields:
        return message
    rendered = ", ".join(f"{k}={_short(v)}" for k, v in fields.items())
    return f"{message} ({rendered})"


_FIELD_JSON = json.JSONEncoder(default=str)
"""Field values of log lines as JSON (one encoder: `json.dumps` with options builds one per call)."""


def _short(value: Any) -> str:
    kind = type(value)
    if kind is str:
        text = value
    elif kind is int:  # (what JSON writes for an int, without the encoder's call overhead)
        text = str(value)
    else:
        text = value if isinstance(value, str) else _FIELD_JSON.encode(value)
    return text if len(text) <= 500 else text[:497] + "..."


def _clean_metadata(metadata: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """Metadata for Dagster with every secret masked, in plain values and in Dagster metadata values."""
    cleaned: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = redactor.text(value)
        elif isinstance(value, dict | list):
            value = dg.MetadataValue.json(redactor.data(value))
        elif redactor and isinstance(value, dg.MetadataValue):
            value = _masked_metadata_value(value, redactor)
        cleaned[redactor.text(key)] = value
    return cleaned


def _masked_metadata_value(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(redactor.data(value.data))
    for kind, field in (
        (dg.TextMetadataValue, "text"),
        (dg.MarkdownMetadataValue, "md_str"),
        (dg.PathMetadataValue, "path"),
        (dg.UrlMetadataValue, "url"),
    ):
        if isinstance(value, kind):
            text = getattr(value, field)
            masked = redactor.text(text) if isinstance(text, str) else text
            return value if masked == text else type(value)(masked)
    return value


def _check_result(
    binding: GraphBinding, task_key: str, outcome: CheckOutcome, redactor: Redactor
) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == "warn" else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        asset_key=binding.asset_keys[task_key],
        check_name=binding.check_names.get((task_key, outcome.name), dagster_name(outcome.name)),
        passed=outcome.passed,
        severity=severity,
        description=redactor.text(outcome.description) if outcome.description else None,
        metadata=_clean_metadata(outcome.metadata, redactor),
    )
