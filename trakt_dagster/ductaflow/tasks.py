"""The task of a ductaflow notebook: run the run's instances (partitions) on kernels, in parallel.

Each instance runs in its own folder and kernel; as each finishes it is reported to Dagster at once
(a materialization of its partition with the executed notebook, HTML, config and log as metadata and its
provenance), so a failing scenario never hides the others. Failed instances are retried on their own
(`dagster.retries`); when any instance still failed, the task fails naming each, after every other
instance has finished. The amber status is the asset check `ductaflow_status` (WARN severity).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg

from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.graph import TaskResult
from trakt_dagster.ductaflow.compat.ductaflow._config import config_json
from trakt_dagster.ductaflow.compat.ductaflow._engine import (
    FlowExecutionError,
    NotebookRequest,
    NotebookResult,
    execute_notebook,
)
from trakt_dagster.ductaflow.compat.ductaflow._kernels import Canceller
from trakt_dagster.ductaflow.compat.ductaflow._logfile import atomic_write
from trakt_dagster.ductaflow.compat.ductaflow._status import OUTPUT_GLOB, scan_file
from trakt_dagster.ductaflow.metadata import DuctaflowRunMetadataSet
from trakt_dagster.ductaflow.model import Instance
from trakt_dagster.ductaflow.runtime import DuctaflowSession, InstanceOutcome
from trakt_dagster.ductaflow.versions import provenance_tags

STATUS_CHECK = "ductaflow_status"
DAGSTER_LINES_PER_INSTANCE = 200
"""Lines of one instance's output copied to the Dagster log (all of them are in its execution log)."""


class InstancesFailed(RuntimeError):
    """One or more instances of a notebook failed (each named with its failing cell)."""

    retryable = False  # failed instances were already retried one by one


def nested_records(folder: Path, own_log: Path | None) -> list[dict[str, Any]]:
    """The flows a build ran below its folder: one record per `<flow>_execution_output.txt`."""
    records = []
    for log in sorted(folder.rglob(OUTPUT_GLOB)):
        if own_log is not None and log.resolve() == own_log.resolve():
            continue
        stem = log.name[: -len("_execution_output.txt")]
        notebook = log.parent / f"{stem}_executed.ipynb"
        html = log.parent / f"{stem}_executed.html"
        records.append(
            {
                "flow": stem,
                "folder": str(log.parent),
                "status": scan_file(log).status,
                "notebook": str(notebook) if notebook.exists() else None,
                "html": str(html) if html.exists() else None,
                "execution_output": str(log),
            }
        )
    return records


class _LineBudget:
    """Copies an instance's output lines to the Dagster log, up to a limit."""

    def __init__(self, ctx: TaskContext, prefix: str, log_file: str) -> None:
        self.ctx = ctx
        self.prefix = prefix
        self.log_file = log_file
        self.left = DAGSTER_LINES_PER_INSTANCE

    def __call__(self, level: str, text: str) -> None:
        if self.left > 0:
            self.ctx.emit(level, f"{self.prefix}{text}", {})
        elif self.left == 0:
            self.ctx.emit("info", f"{self.prefix}... further output only in {self.log_file}", {})
        self.left -= 1


class RunNotebook:
    """`run(ctx, upstream)` of a flow's or build's task.

    Example:
        >>> # Task("clean", run=RunNotebook(), ...)
    """

    def __call__(self, ctx: TaskContext, upstream: Any) -> TaskResult:
        session: DuctaflowSession = ctx.session
        canceller = Canceller()
        ctx.on_cancel(canceller.cancel)
        instances = session.instances
        workers = max(1, min(session.workers, len(instances)))
        ctx.log.info(f"{len(instances)} instance(s) of {session.notebook.name}, {workers} at a time")
        if workers == 1:
            outcomes = [self._run(ctx, session, inst, canceller) for inst in instances]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ductaflow") as pool:
                outcomes = list(pool.map(lambda inst: self._run(ctx, session, inst, canceller), instances))
        self._report_check(ctx, session, outcomes)
        failed = [o for o in outcomes if o.status == "error"]
        if failed:
            lines = [f"{len(failed)} of {len(outcomes)} instance(s) of '{session.notebook.name}' failed:"]
            lines += [f"- {o.name}: {o.error}" for o in failed]
            raise InstancesFailed("\n".join(lines))
        statuses = {o.key: o.status for o in outcomes}
        return TaskResult(
            materialize=False,
            record={"instances": statuses, "work_root": str(session.work_root)},
        )

    # -- one instance -------------------------------------------------------------------------
    def _run(
        self, ctx: TaskContext, session: DuctaflowSession, inst: Instance, canceller: Canceller
    ) -> InstanceOutcome:
        notebook = session.notebook
        folder = session.folder_of(inst)
        label = f"[{inst.key}] " if notebook.partitioned else ""
        config = dict(inst.config)
        if config.pop("_no_execute", None):
            ctx.log.warning(f"{label}the config sets _no_execute: ignored, a Dagster run always executes")
        attempts = notebook.retries + 1
        outcome: InstanceOutcome | None = None
        for attempt in range(1, attempts + 1):
            if canceller.cancelled:
                break
            for name, content in inst.extra_files.items():
                atomic_write(folder / name, config_json(content))
            log_file = folder / f"{notebook.path.stem}_execution_output.txt"
            request = NotebookRequest(
                source=notebook.path,
                execution_dir=folder,
                config=config,
                project_root=session.project.folder,
                kernel_name=session.kernel_name,
                timeout=session.timeout,
                export_html=session.export_html,
                pythonpath=session.pythonpath,
                sink=_LineBudget(ctx, label, str(log_file)),
                canceller=canceller,
                cwd=session.work_root,
            )
            started = time.time()
            try:
                result = execute_notebook(request)
            except FlowExecutionError as exc:
                outcome = self._failed(inst, folder, exc.result, str(exc.failure.describe(notebook.path.stem)), started)
                outcome.failure = exc.failure.as_dict()
            except Exception as exc:  # noqa: BLE001 - e.g. a missing source file: this instance fails
                outcome = self._failed(inst, folder, None, f"{type(exc).__name__}: {exc}", started)
            else:
                outcome = self._succeeded(inst, result)
            outcome.attempts = attempt
            if outcome.status != "error":
                break
            if attempt < attempts and not canceller.cancelled:
                ctx.log.warning(
                    f"{label}--- retry attempt {attempt + 1}/{attempts} --- after: {outcome.error.splitlines()[0]}"
                )
        if outcome is None:
            outcome = InstanceOutcome(
                inst.key, inst.name, folder, "error", error="the run was stopped before it started"
            )
        if notebook.kind == "build":
            outcome.flows = nested_records(folder, folder / f"{notebook.path.stem}_execution_output.txt")
        session.record(outcome)
        self._announce(ctx, session, inst, outcome)
        return outcome

    @staticmethod
    def _files(result: NotebookResult | None) -> dict[str, str]:
        if result is None:
            return {}
        files = {"notebook": result.notebook, "config": result.config_file, "execution_output": result.log_file}
        if result.html is not None:
            files["html"] = result.html
        return {name: str(path) for name, path in files.items() if path is not None and Path(path).exists()}

    def _failed(
        self, inst: Instance, folder: Path, result: NotebookResult | None, error: str, started: float
    ) -> InstanceOutcome:
        return InstanceOutcome(
            inst.key,
            inst.name,
            folder,
            "error",
            started_at=started,
            duration_s=time.time() - started,
            error=error,
            files=self._files(result),
        )

    def _succeeded(self, inst: Instance, result: NotebookResult) -> InstanceOutcome:
        scan = result.scan
        marked = [*(scan.warnings if scan else []), *(scan.errors if scan else [])]
        outcome = InstanceOutcome(
            inst.key,
            inst.name,
            result.execution_dir,
            result.status,
            started_at=result.started_at,
            duration_s=result.duration_s,
            files=self._files(result),
            warnings=marked,
        )
        if result.html_error:
            outcome.files["html_error"] = result.html_error
        return outcome

    # -- reporting ----------------------------------------------------------------------------
    def _announce(self, ctx: TaskContext, session: DuctaflowSession, inst: Instance, outcome: InstanceOutcome) -> None:
        notebook = session.notebook
        label = f"{notebook.name}[{inst.key}]" if notebook.partitioned else notebook.name
        icon = {"success": "✅", "warning": "⚠️", "error": "❌"}[outcome.status]
        if outcome.status == "error":
            ctx.log.error(f"{icon} {label} failed after {outcome.duration_s:.1f}s: {outcome.error}")
            ctx.report(  # Dagster OSS records no per-partition failures: this observation is the red record
                dg.AssetObservation(
                    asset_key=session.keys.asset,
                    partition=inst.key if notebook.partitioned else None,
                    description=f"{notebook.kind} {notebook.name}, instance {inst.name}: failed",
                    metadata={
                        **self._metadata(inst, outcome),
                        **DuctaflowRunMetadataSet(error=(outcome.error or "")[:2000]),
                    },
                )
            )
            return
        ctx.log.info(f"{icon} {label} {outcome.status} in {outcome.duration_s:.1f}s: {outcome.folder}")
        ctx.report(
            dg.AssetMaterialization(
                asset_key=session.keys.asset,
                partition=inst.key if notebook.partitioned else None,
                description=f"{notebook.kind} {notebook.name}, instance {inst.name}: {outcome.status}",
                metadata=self._metadata(inst, outcome),
                tags=provenance_tags(session.code_version, session.inputs.get(inst.key, {})),
            )
        )
        if notebook.kind == "build" and not notebook.partitioned:
            self._report_nested(ctx, session, outcome)

    @staticmethod
    def _metadata(inst: Instance, outcome: InstanceOutcome) -> dict[str, Any]:
        files = outcome.files
        return dict(
            DuctaflowRunMetadataSet(
                status=outcome.status,
                instance=inst.name,
                instance_dir=dg.MetadataValue.path(str(outcome.folder)),
                duration_s=round(outcome.duration_s, 3),
                attempts=outcome.attempts,
                executed_notebook=_path(files.get("notebook")),
                html=_path(files.get("html")),
                config=_path(files.get("config")),
                execution_output=_path(files.get("execution_output")),
                html_error=files.get("html_error") or None,
                marked_lines=dg.MetadataValue.json(outcome.warnings[:50]) if outcome.warnings else None,
                scenario=dg.MetadataValue.json(dict(inst.scenario)) if inst.scenario is not None else None,
                flows=dg.MetadataValue.json(outcome.flows) if outcome.flows else None,
            )
        )

    @staticmethod
    def _report_nested(ctx: TaskContext, session: DuctaflowSession, outcome: InstanceOutcome) -> None:
        """A build's nested runs of the project's (unpartitioned) flows, as materializations of those flows.

        They ran with the build's config, not the flow's own, so they carry a code version of their own
        (`via-build:<build>`): Dagster shows the flow's own instance as changed until it runs itself.
        """
        from dagster._core.definitions.data_version import CODE_VERSION_TAG

        for record in outcome.flows:
            key = session.keys.flows.get(record["flow"])
            if key is None or record["status"] == "error":
                continue
            meta = DuctaflowRunMetadataSet(
                status=record["status"],
                via_build=session.notebook.name,
                instance_dir=dg.MetadataValue.path(record["folder"]),
                executed_notebook=_path(record.get("notebook")),
                html=_path(record.get("html")),
                execution_output=_path(record.get("execution_output")),
            )
            ctx.report(
                dg.AssetMaterialization(
                    asset_key=key,
                    description=f"run by build {session.notebook.name} in {record['folder']}",
                    metadata=dict(meta),
                    tags={CODE_VERSION_TAG: f"via-build:{session.notebook.name}"},
                )
            )

    @staticmethod
    def _report_check(ctx: TaskContext, session: DuctaflowSession, outcomes: list[InstanceOutcome]) -> None:
        ran = [o for o in outcomes if o.status != "error"]
        if not ran:
            return
        amber = [o for o in ran if o.status == "warning"]
        ctx.report(
            dg.AssetCheckResult(
                asset_key=session.keys.asset,
                check_name=STATUS_CHECK,
                passed=not amber,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"{len(amber)} of {len(ran)} instance(s) logged warning or error markers"
                    if amber
                    else f"{len(ran)} instance(s) ran without warning markers"
                ),
                metadata=dict(
                    DuctaflowRunMetadataSet(
                        instance_statuses=dg.MetadataValue.json({o.key: o.status for o in ran}),
                        marked_lines=dg.MetadataValue.json({o.key: o.warnings[:20] for o in amber}),
                    )
                ),
            )
        )


def _path(value: str | None) -> dg.PathMetadataValue | None:
    return dg.MetadataValue.path(value) if value else None


def write_json(path: Path, data: Any) -> None:
    """Atomically write `data` as indented JSON."""
    atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")
