"""Per-run state of a flowrun DAG on Dagster: run config, run metadata, the `RunContext`, hooks, report.

The run's `RunContext` comes from the module's context factory (`flowrun_context`, see docs/flowrun.md),
called once per run with the run's metadata; the metadata comes from the run config (`metadata`) and
the Dagster run tags (`trakt/metadata` as JSON, and one `trakt/<key>` tag per entry, which win).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from flowrun import RunContext
from flowrun.hooks import DagEndEvent, DagStartEvent, TaskSkipEvent
from pydantic import Field

from trakt_dagster.core.events import RunFinished, TaskFailed, TaskSkipped
from trakt_dagster.core.redact import Redactor
from trakt_dagster.core.session import PipelineSession, SessionRequest, states_from_ops
from trakt_dagster.flowrun.hooks import HookRelay
from trakt_dagster.flowrun.loop import RunLoop
from trakt_dagster.flowrun.model import FlowrunDag
from trakt_dagster.flowrun.report import REPORT_FILE, REPORT_KEY, RESUME_KEY, RunReport

TAG_PREFIX = "trakt/"
METADATA_TAG = "trakt/metadata"
FROM_TASKS_TAG = "trakt/from_tasks"
RESERVED_TAGS = frozenset({"trakt/tool", "trakt/pipeline", METADATA_TAG, FROM_TASKS_TAG})
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
_SECRET_NAME = re.compile(r"(pass(word|wd)?|secret|token|api_?key|credential|private_?key)", re.I)


class FlowrunRunConfig(dg.Config):
    """Run config of a flowrun DAG (the launchpad form); every field is optional.

    Example:
        ```yaml
        ops:
          orders_pipeline:
            config:
              metadata: {batch_id: "2026-04-01"}
        ```
    """

    metadata: dict[str, Any] = Field(
        default_factory=dict, description="RunContext metadata of the run (run tags trakt/<key> win)."
    )
    from_tasks: list[str] = Field(
        default_factory=list,
        description="Re-executions only (resume): run these tasks and their descendants again (tag trakt/from_tasks).",
    )


def metadata_tags(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Run tags carrying a run's metadata: `trakt/metadata` (exact JSON) plus one `trakt/<key>` per entry.

    Example:
        >>> metadata_tags({"batch_id": "b1", "n": 2})
        {'trakt/metadata': '{"batch_id": "b1", "n": 2}', 'trakt/batch_id': 'b1', 'trakt/n': '2'}
    """
    if not metadata:
        return {}
    tags = {METADATA_TAG: json.dumps(dict(metadata), sort_keys=True, default=str)}
    for key, value in metadata.items():
        tag = f"{TAG_PREFIX}{key}"
        if _TAG_KEY.match(str(key)) and tag not in RESERVED_TAGS:
            tags[tag] = _tag_text(value)
    return tags


def run_metadata(tags: Mapping[str, str], configured: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A run's metadata: run config, then the `trakt/metadata` tag, then `trakt/<key>` tags.

    Example:
        >>> run_metadata({"trakt/metadata": '{"n": 2}', "trakt/n": "2", "trakt/batch": "b7"})
        {'n': 2, 'batch': 'b7'}
    """
    metadata: dict[str, Any] = dict(configured or {})
    if METADATA_TAG in tags:
        try:
            loaded = json.loads(tags[METADATA_TAG])
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            metadata.update(loaded)
    for tag, value in tags.items():
        if not tag.startswith(TAG_PREFIX) or tag in RESERVED_TAGS:
            continue
        key = tag[len(TAG_PREFIX) :]
        if key not in metadata or _tag_text(metadata[key]) != value:
            metadata[key] = value
    return metadata


def _tag_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def requested_from_tasks(tags: Mapping[str, str], config: Any) -> list[str]:
    """`from_tasks` of a resume: the `trakt/from_tasks` tag (comma-separated) and the run config field."""
    names = [n.strip() for n in tags.get(FROM_TASKS_TAG, "").split(",") if n.strip()]
    for name in getattr(config, "from_tasks", None) or []:
        if name not in names:
            names.append(name)
    return names


def call_with_known(func: Any, known: Mapping[str, Any]) -> Any:
    """Call a module hook (context factory, batch source) with the keyword arguments it names."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return func()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return func(**known)
    return func(**{name: value for name, value in known.items() if name in params})


def secret_values(deps: Any) -> list[str]:
    """String values of fields whose names look secret (password, token, api_key, ...) in a deps object."""
    if dataclasses.is_dataclass(deps) and not isinstance(deps, type):
        items = {f.name: getattr(deps, f.name, None) for f in dataclasses.fields(deps)}
    elif isinstance(deps, Mapping):
        items = dict(deps)
    elif hasattr(deps, "__dict__"):
        items = dict(vars(deps))
    else:
        return []
    return [v for k, v in items.items() if isinstance(v, str) and len(v) >= 4 and _SECRET_NAME.search(str(k))]


@dataclass
class FlowrunSession(PipelineSession):
    """Everything the tasks of one flowrun run share: the context, the loop, hooks and the report."""

    dag: FlowrunDag | None = None
    context: Any = None
    report: RunReport | None = None
    hooks: HookRelay = field(default_factory=lambda: HookRelay(()))
    cancel_event: threading.Event = field(default_factory=threading.Event)
    loop: RunLoop | None = None
    sync_slots: threading.Semaphore | None = None
    resume: dict[str, Any] | None = None
    """`{parent_run_id, preserved: {task: run id holding its value}}` when the run resumes another."""
    log: Any = None
    run_dir: Any = None
    """The run folder (`flowrun_report.json` is written there when the run ends)."""
    _finished: bool = False

    def cancel(self) -> None:
        """Dagster terminated the run: set the context's cancel event (tasks see `context.cancelled()`)."""
        self.cancel_event.set()

    def on_event(self, event: Any) -> None:
        report = self.report
        if isinstance(event, TaskSkipped):
            report.skip(event.key, "UPSTREAM_FAILED")
            self.hooks.emit(
                "on_task_skip",
                TaskSkipEvent(
                    run_id=self.run_id, dag_name=self.dag.name, task_name=event.key, reason="UPSTREAM_FAILED"
                ),
            )
        elif isinstance(event, TaskFailed) and report.tasks.get(event.key, {}).get("status") != "FAILED":
            report.fail(event.key, event.traceback_text or f"{type(event.error).__name__}: {event.error}")
        elif isinstance(event, RunFinished):
            self._finished = True

    def manifest_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {REPORT_KEY: self.report.render()} if self.report is not None else {}
        if self.resume:
            extra[RESUME_KEY] = self.resume
        return extra

    def merge_manifest_extra(self, extras: list[dict[str, Any]]) -> dict[str, Any]:
        """Step granularity: one flowrun report for the run (each task's state from the op that ran it)."""
        own = self.manifest_extra()
        reports = [e[REPORT_KEY] for e in extras if REPORT_KEY in e]
        if REPORT_KEY not in own or not reports:
            return own
        merged = dict(own[REPORT_KEY])
        tasks = states_from_ops(merged["tasks"], [r["tasks"] for r in reports], pending="PENDING")
        statuses = [state["status"] for state in tasks.values()]
        merged["tasks"] = tasks
        if any(status in ("FAILED", "SKIPPED") for status in statuses):
            merged["status"] = "FAILED"
        elif all(status == "SUCCESS" for status in statuses):
            merged["status"] = "SUCCESS"
        else:
            merged["status"] = "RUNNING"
        merged["created_at"] = min(r["created_at"] for r in reports)
        ends = [r["finished_at"] for r in reports]
        merged["finished_at"] = max(ends) if merged["status"] != "RUNNING" and None not in ends else None
        return {**own, REPORT_KEY: merged}

    def close(self, success: bool) -> None:
        try:
            if self.report is not None:
                self.report.finish(interrupted=not self._finished)
                if self.run_dir is not None:
                    self.report.write(Path(self.run_dir) / REPORT_FILE, Redactor(self.secrets).text)
            if self.dag is not None:
                self.hooks.emit("on_dag_end", DagEndEvent(run_id=self.run_id, dag_name=self.dag.name))
        finally:
            if self.loop is not None:
                self.loop.close()


def build_context(dag: FlowrunDag, metadata: Mapping[str, Any], request: SessionRequest, loop: RunLoop | None) -> Any:
    """The run's `RunContext`: the factory's result with the run metadata merged in (None without either)."""
    if dag.context_factory is None:
        return RunContext(None, dict(metadata)) if metadata else None
    known = {"metadata": dict(metadata), "dag": dag.name, "run_id": request.run.run_id, "tags": dict(request.run.tags)}
    if dag.namespace is not None:
        with dag.namespace.active():
            made = call_with_known(dag.context_factory, known)
    else:
        made = call_with_known(dag.context_factory, known)
    if inspect.isawaitable(made):
        if loop is None:
            raise RuntimeError("an async context factory needs the run's event loop")
        made = loop.run(made)
    if made is None:
        return None
    if isinstance(made, RunContext):
        return made.with_metadata(dict(metadata)) if metadata else made
    return RunContext(made, dict(metadata))


def make_session_factory(dag: FlowrunDag):  # noqa: ANN201 - returns the factory closure
    """The `session_factory` of a flowrun graph."""
    from trakt_dagster.flowrun.resume import take_resume_info

    needs_loop = any(task.shape.is_async for task in dag.tasks) or (
        dag.context_factory is not None and inspect.iscoroutinefunction(dag.context_factory)
    )

    def factory(request: SessionRequest) -> FlowrunSession:
        config: FlowrunRunConfig = request.config or FlowrunRunConfig()
        resume = take_resume_info(request.run.run_id)
        metadata = run_metadata(request.run.tags, config.metadata)
        if not metadata and resume is not None:
            metadata = dict(resume.metadata)  # flowrun: the old run's metadata unless the new one has some
        loop = RunLoop(f"flowrun-{dag.name}") if needs_loop else None
        try:
            context = build_context(dag, metadata, request, loop)
        except BaseException:
            if loop is not None:
                loop.close()
            raise
        session = FlowrunSession(
            run_id=request.run.run_id, dag=dag, loop=loop, log=request.log, run_dir=request.run.run_dir
        )
        if context is not None:
            event = getattr(context, "_cancel_event", None)
            if event is None:
                context = context.with_cancel_event(session.cancel_event)
            else:
                session.cancel_event = event
            session.secrets.extend(secret_values(context.deps))
        session.context = context
        if dag.max_workers and dag.max_workers < dag.max_parallel:
            session.sync_slots = threading.Semaphore(dag.max_workers)
        order = [task.name for task in dag.tasks]
        in_run = set(request.run_plan or request.selected) | (set(resume.entries) if resume else set())
        report = RunReport(
            request.run.run_id,
            dag.name,
            context.metadata if context is not None else metadata,
            [name for name in order if name in in_run],
        )
        if resume is not None:
            for name, entry in resume.entries.items():
                loaded = name in resume.values
                report.preserve(name, entry, resume.values.get(name), loaded=loaded)
            session.resume = {"parent_run_id": resume.parent_run_id, "preserved": dict(resume.value_runs)}
        session.report = report
        session.hooks = HookRelay(dag.hooks, request.log)
        session.hooks.emit("on_dag_start", DagStartEvent(run_id=request.run.run_id, dag_name=dag.name))
        return session

    return factory
