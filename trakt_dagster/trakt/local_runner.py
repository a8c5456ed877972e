"""trakt's runner classes (`LocalRunner`, `GlueRunner`, `LambdaRunner`) for scripts, running through Dagster.

`workflow(...).run(LocalRunner(...))` and `LocalRunner().run(load_pipeline_from_yaml(...))` keep working:
the pipeline runs as a Dagster job in this process (ephemeral instance), writes the same outputs and
manifest, and returns trakt's result dict; a failed run raises the step's exception type with its message.
"""

from __future__ import annotations

import ast
import builtins
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trakt_dagster.trakt import errors as trakt_errors
from trakt_dagster.trakt.errors import PipelineLoadError
from trakt_dagster.trakt.model import PipelineSpec

RUNS_DIR_ENV = "TRAKT_DAGSTER_RUNS_DIR"


class LocalRunner:
    """Runs a trakt pipeline locally (through Dagster) with trakt's options.

    Example:
        >>> # result = LocalRunner(input_dir="data", output_dir="out").run(load_pipeline_from_yaml("p.yaml"))
        >>> # result["outputs"]["final"]["path"]
    """

    runner_name = "LocalRunner"

    def __init__(
        self,
        *,
        input_dir: str | None = None,
        output_dir: str | None = None,
        input_overrides: Mapping[str, str] | None = None,
        adapter_registry: Any = None,
        output_kind: str = "csv",
        stream_chunk_size: int = 50_000,
    ) -> None:
        self.input_dir = input_dir or "."
        self.output_dir = output_dir or "outputs"
        self.input_overrides = dict(input_overrides or {})
        self.stream_chunk_size = stream_chunk_size
        if adapter_registry is not None or output_kind != "csv":
            raise NotImplementedError(
                "trakt-dagster reads artifact adapters from the 'trakt.artifact_adapters' entry points; "
                "register custom kinds there instead of passing adapter_registry/output_kind."
            )

    def context_metadata(self) -> dict[str, Any]:
        return {"runner": self.runner_name}

    def run(
        self,
        pipeline: PipelineSpec,
        *,
        run_id: str | None = None,
        pipeline_version: str | None = None,
        context_metadata: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run `pipeline`; keyword options as trakt's `run()` (input_dir, output_dir, manifest_path, ...).

        `params` (a trakt-dagster addition) takes const overrides as `--param` does: `{"scale.factor": 3}`.
        Overrides naming unknown inputs, steps or bindings raise `ConfigError` (a `ValueError`) before the
        run starts; a failed run raises the failing step's exception type with its message.
        """
        from trakt_dagster.core.builder import build_graph_definitions
        from trakt_dagster.core.launch import launch_job
        from trakt_dagster.core.names import dagster_name
        from trakt_dagster.core.resources import RunStorage
        from trakt_dagster.trakt.cli import trakt_result
        from trakt_dagster.trakt.overrides import apply_const_overrides, check_input_overrides
        from trakt_dagster.trakt.translate import build_trakt_graph

        inputs = {**self.input_overrides, **dict(kwargs.get("input_overrides") or {})}
        params = dict(kwargs.get("params") or {})
        check_input_overrides(pipeline, inputs)
        apply_const_overrides(pipeline, params)
        output_dir = kwargs.get("output_dir") or self.output_dir
        manifest_path = kwargs.get("manifest_path") or str(Path(output_dir) / "manifest.json")
        op_config = {
            "input_dir": kwargs.get("input_dir") or self.input_dir,
            "output_dir": output_dir,
            "inputs": inputs,
            "params": params,
            "manifest_path": manifest_path,
            "run_id": run_id,
            "pipeline_version": pipeline_version,
            "stream_chunk_size": kwargs.get("stream_chunk_size") or self.stream_chunk_size,
            "metadata": {**self.context_metadata(), **dict(context_metadata or {})},
        }
        graph = build_trakt_graph(pipeline)
        runs_dir = os.environ.get(RUNS_DIR_ENV) or str(Path(".trakt-dagster") / "runs")
        defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
        logging.getLogger("dagster").setLevel(logging.WARNING)
        outcome = launch_job(
            defs,
            graph,
            runs_dir=runs_dir,
            run_config={"ops": {f"{dagster_name(graph.name)}_pipeline": {"config": op_config}}},
            log_level="WARNING",
        )
        manifest = outcome.manifest or {}
        if not outcome.success:
            raise failure_exception(manifest.get("error"))
        return trakt_result(manifest, manifest_path)


def failure_exception(error: Mapping[str, Any] | None) -> Exception:
    """The exception a failed run raises from a script: the step's exception type (builtin or trakt's) and
    message; other types become `RuntimeError("<Type>: <message>")`.

    Example:
        >>> failure_exception({"type": "ValueError", "message": "boom"})
        ValueError('boom')
        >>> failure_exception({"type": "KeyError", "message": "'amount'"})
        KeyError('amount')
    """
    error = dict(error or {"type": "RuntimeError", "message": "the run failed (see the Dagster run log)"})
    name, message = str(error.get("type")), str(error.get("message"))
    kind = getattr(builtins, name, None) or getattr(trakt_errors, name, None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        return RuntimeError(f"{name}: {message}")
    if issubclass(kind, KeyError):
        try:
            return kind(ast.literal_eval(message))  # str(KeyError('x')) is "'x'"
        except (ValueError, SyntaxError):
            return kind(message)
    return kind(message)


class GlueRunner(LocalRunner):
    """trakt's Glue runner: local parity, with Glue ids in `ctx.metadata`."""

    runner_name = "GlueRunner"

    def __init__(
        self, *, job_name: str | None = None, client_id: str | None = None, batch_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        glue = {"glue.job_name": job_name, "client_id": client_id, "batch_id": batch_id}
        self.glue = {"runtime": "glue", **{k: v for k, v in glue.items() if v is not None}}

    def context_metadata(self) -> dict[str, Any]:
        return {**super().context_metadata(), **self.glue}


class LambdaRunner(LocalRunner):
    """trakt's Lambda runner: local parity."""

    runner_name = "LambdaRunner"

    def __init__(self, *, max_batch_rows: int = 50_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_batch_rows = max_batch_rows

    def context_metadata(self) -> dict[str, Any]:
        return {**super().context_metadata(), "runtime": "lambda", "lambda.max_batch_rows": self.max_batch_rows}


RunnerBase = LocalRunner


def load_pipeline_from_yaml(
    pipeline_file: str | Path, registry: Any = None, *, strict_unknown_keys: bool = True, auto_syspath: bool = True
) -> PipelineSpec:
    """trakt's loader: the pipeline, or `PipelineLoadError` whose first line is trakt's message, followed by
    every problem with its file, line, key and fix."""
    from trakt_dagster.trakt.cli import load_message
    from trakt_dagster.trakt.loader import load_pipeline_spec

    spec, errors = load_pipeline_spec(Path(pipeline_file), strict=strict_unknown_keys, registry=registry)
    if errors:
        raise PipelineLoadError(load_message(errors))
    return spec
