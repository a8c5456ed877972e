"""Per-run state of a trakt pipeline on Dagster: run config, the paths resource and the session."""

from __future__ import annotations

import logging
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from trakt_dagster.core.atomic import atomic_path
from trakt_dagster.core.context import TaskContext
from trakt_dagster.core.paths import path_inside
from trakt_dagster.core.session import PipelineSession, SessionRequest
from trakt_dagster.trakt.adapters import ArtifactAdapterRegistry
from trakt_dagster.trakt.context import Context
from trakt_dagster.trakt.errors import ConfigError
from trakt_dagster.trakt.model import PipelineSpec
from trakt_dagster.trakt.overrides import apply_const_overrides, check_input_overrides
from trakt_dagster.trakt.policies import QUALITY_CHECK_EVENT

PATHS_RESOURCE_KEY = "trakt_paths"
DEFAULT_CHUNK_SIZE = 50_000
WARNING_MARKERS = ("warning", "coercion", "missing_column")
METADATA_FILE = "trakt_ctx_metadata.pkl"
_METADATA_LOCK = threading.Lock()
RUNNER_LOG = logging.getLogger("trakt.runner")
"""trakt's own progress lines (`Running pipeline 'x' (batch mode)...`, `Step 'x' completed (...)`), at INFO;
`trakt-dagster trakt run` prints them as trakt's CLI does."""


class TraktRunConfig(dg.Config):
    """Run config of a trakt pipeline (the launchpad form); every field is optional.

    Example:
        ```yaml
        ops:
          sales_pipeline:
            config:
              output_dir: /tmp/out
              inputs: {src: "alt/*.csv"}
              params: {scale.factor: 3}
        ```
    """

    input_dir: str | None = Field(default=None, description="Folder that input URIs are relative to.")
    output_dir: str | None = Field(default=None, description="Folder that outputs are written to.")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Input overrides NAME: PATH (comma list, glob or folder)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Const overrides 'step.param': value; text values are parsed as YAML like --param.",
    )
    manifest_path: str | None = Field(default=None, description="Also write manifest.json here.")
    run_id: str | None = Field(default=None, description="Run id in the manifest (default: Dagster run id).")
    pipeline_version: str | None = Field(default=None, description="pipeline.version in the manifest.")
    stream_chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, description="Rows per chunk in stream mode.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Initial ctx.metadata entries.")


class TraktPaths(dg.ConfigurableResource):
    """Where trakt pipelines read and write by default.

    Empty roots mean "beside the pipeline": inputs from the pipeline folder (or its `dagster.input_dir`),
    outputs to `<pipeline folder>/outputs` (or `dagster.output_dir`). With a root set, pipeline `P`
    reads `<input_root>/P` and writes `<output_root>/P`. Run config `input_dir`/`output_dir` win over both.

    Example:
        >>> TraktPaths(output_root="/data/out").output_root
        '/data/out'
    """

    input_root: str = ""
    output_root: str = ""


@dataclass
class TraktSession(PipelineSession):
    """Everything the tasks of one trakt run share (trakt keeps this in its runner and `Context`)."""

    spec: PipelineSpec | None = None
    ctx: Context | None = None
    input_dir: str = "."
    output_dir: str = "outputs"
    input_sources: dict[str, str] = field(default_factory=dict)
    bindings: dict[str, dict[str, Any]] = field(default_factory=dict)
    adapters: ArtifactAdapterRegistry | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    output_kind: str = "csv"
    metadata_file: Path | None = None
    """Step granularity: where `ctx.metadata` is carried from op to op (pickled, picklable entries only)."""
    started: float = field(default_factory=time.perf_counter)
    steps_completed: list[str] = field(default_factory=list)
    _current: threading.local = field(default_factory=threading.local)

    @property
    def mode(self) -> str:
        return self.spec.mode if self.spec else "batch"

    def bind_task(self, task_ctx: TaskContext | None, checks: list[dict[str, Any]] | None = None) -> None:
        """Route `ctx.emit_event` calls made in this thread to `task_ctx`'s log (and gate checks to `checks`)."""
        self._current.task = task_ctx
        self._current.checks = checks

    def forward_event(self, name: str, attrs: dict[str, Any], _ctx: Context) -> None:
        """The built-in telemetry hook: events to the Dagster log, warning-type ones as warnings."""
        task_ctx: TaskContext | None = getattr(self._current, "task", None)
        if task_ctx is None:
            return
        if name == QUALITY_CHECK_EVENT and getattr(self._current, "checks", None) is not None:
            self._current.checks.append(dict(attrs))
        normalized = name.lower().replace("-", "_")
        level = "warning" if any(m in normalized for m in WARNING_MARKERS) else "debug"
        task_ctx.emit(level, f"event {name}", {"event": name, **{k: _plain(v) for k, v in attrs.items()}})

    def close(self, success: bool) -> None:
        """trakt's last lifecycle event, for telemetry hooks that steps registered on `ctx`."""
        if self.ctx is None or self.spec is None:
            return
        if success:
            self.ctx.emit_event("pipeline.completed", output_count=len(self.spec.outputs))
            RUNNER_LOG.info(
                "Pipeline '%s' completed in %.0fms (%d steps, status=success)",
                self.spec.name,
                (time.perf_counter() - self.started) * 1000,
                len(self.steps_completed),
            )
        else:
            self.ctx.emit_event("pipeline.failed")

    def load_shared_metadata(self) -> None:
        """Step granularity: take over the `ctx.metadata` entries earlier ops of this run stored."""
        if self.metadata_file is not None and self.metadata_file.exists():
            with open(self.metadata_file, "rb") as fh:
                stored = pickle.load(fh)
            for key, value in stored.items():
                self.ctx.metadata.setdefault(key, value)

    def save_shared_metadata(self) -> None:
        """Step granularity: store the picklable `ctx.metadata` entries for the next ops."""
        if self.metadata_file is None:
            return
        with _METADATA_LOCK:
            stored: dict[str, Any] = {}
            if self.metadata_file.exists():
                with open(self.metadata_file, "rb") as fh:
                    stored = pickle.load(fh)
            for key, value in self.ctx.metadata.items():
                try:
                    pickle.dumps(value)
                except Exception:  # noqa: BLE001 - live objects (spans, clients) stay in this op
                    continue
                stored[key] = value
            with atomic_path(self.metadata_file) as tmp, open(tmp, "wb") as fh:
                pickle.dump(stored, fh)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def resolve_dirs(spec: PipelineSpec, config: TraktRunConfig | None, paths: TraktPaths | None) -> tuple[str, str]:
    """(input_dir, output_dir) for a run: run config, else the resource roots, else beside the pipeline."""
    settings = spec.settings
    default_in = str(spec.directory / settings["input_dir"]) if "input_dir" in settings else str(spec.directory)
    default_out = str(spec.directory / settings.get("output_dir", "outputs"))
    input_dir = (config.input_dir if config else None) or (
        str(path_inside(Path(paths.input_root), spec.name)) if paths and paths.input_root else default_in
    )
    output_dir = (config.output_dir if config else None) or (
        str(path_inside(Path(paths.output_root), spec.name)) if paths and paths.output_root else default_out
    )
    return input_dir, output_dir


def make_session_factory(spec: PipelineSpec):  # noqa: ANN201 - returns the factory closure
    """The `session_factory` of a trakt graph: applies run config and overrides, builds `Context`."""

    def factory(request: SessionRequest) -> TraktSession:
        config: TraktRunConfig = request.config or TraktRunConfig()
        paths = getattr(request.resources, PATHS_RESOURCE_KEY, None) if request.resources is not None else None
        input_dir, output_dir = resolve_dirs(spec, config, paths)
        if config.stream_chunk_size is None:
            raise ConfigError("stream_chunk_size must be set.")
        check_input_overrides(spec, config.inputs)
        bindings = apply_const_overrides(spec, config.params)
        run_id = config.run_id or request.run.run_id
        metadata: dict[str, Any] = dict(config.metadata)
        metadata.setdefault("runner", "DagsterRunner")
        metadata["dagster_run_id"] = request.run.run_id
        ctx = Context(
            run_id=run_id,
            pipeline_name=spec.name,
            pipeline_version=config.pipeline_version,
            started_at=request.run.started_at,
            metadata=metadata,
        )
        manifest_copy = Path(config.manifest_path) if config.manifest_path else Path(output_dir) / "manifest.json"
        data_dirs = [Path(output_dir)] + ([Path(input_dir)] if Path(input_dir) != spec.directory else [])
        session = TraktSession(
            run_id=run_id,
            pipeline_version=config.pipeline_version,
            manifest_copies=[manifest_copy],
            snapshot_exclude=data_dirs,
            spec=spec,
            ctx=ctx,
            input_dir=input_dir,
            output_dir=output_dir,
            input_sources={i.name: config.inputs.get(i.name, i.source) for i in spec.inputs},
            bindings=bindings,
            adapters=ArtifactAdapterRegistry.from_entry_points(),
            chunk_size=config.stream_chunk_size,
        )
        ctx.register_telemetry_hook(session.forward_event)
        RUNNER_LOG.info("Running pipeline '%s' (%s mode)...", spec.name, spec.mode)
        if request.run.granularity == "step":
            session.metadata_file = request.run.data_dir / METADATA_FILE
            session.load_shared_metadata()
        return session

    return factory
