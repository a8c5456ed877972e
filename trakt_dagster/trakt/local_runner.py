"""trakt's runner classes (`LocalRunner`, `GlueRunner`, `LambdaRunner`) for scripts, running through Dagster.

`workflow(...).run(LocalRunner(...))` and `LocalRunner().run(load_pipeline_from_yaml(...))` keep working:
the pipeline runs as a Dagster job in this process (ephemeral instance), writes the same outputs and
manifest, and returns trakt's result dict; a failed run raises the step's exception type with its message.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
        """Run `pipeline`; keyword options as trakt's `run()` (input_dir, output_dir, manifest_path, ...)."""
        from trakt_dagster.core.builder import build_graph_definitions
        from trakt_dagster.core.launch import launch_job
        from trakt_dagster.core.names import dagster_name
        from trakt_dagster.core.resources import RunStorage
        from trakt_dagster.trakt.cli import trakt_result
        from trakt_dagster.trakt.translate import build_trakt_graph

        output_dir = kwargs.get("output_dir") or self.output_dir
        manifest_path = kwargs.get("manifest_path") or str(Path(output_dir) / "manifest.json")
        op_config = {
            "input_dir": kwargs.get("input_dir") or self.input_dir,
            "output_dir": output_dir,
            "inputs": {**self.input_overrides, **dict(kwargs.get("input_overrides") or {})},
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
        manifest = outcome.manifest or json.loads("{}")
        if not outcome.success:
            error = manifest.get("error") or {"type": "RuntimeError", "message": "the run failed"}
            kind = getattr(builtins, str(error.get("type")), None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = RuntimeError
            raise kind(error.get("message"))
        return trakt_result(manifest, manifest_path)


class GlueRunner(LocalRunner):
    """trakt's Glue runner: local parity, with Glue ids in `ctx.metadata`."""

    runner_name = "GlueRunner"

    def __init__(
        self, *, job_name: str | None = None, client_id: str | None = None, batch_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.glue = {"runtime": "glue", "glue.job_name": job_name, "client_id": client_id, "batch_id": batch_id}

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
    """trakt's loader: the pipeline, or `PipelineLoadError` with every problem (file, line, key)."""
    from trakt_dagster.trakt.loader import load_pipeline_spec

    spec, errors = load_pipeline_spec(Path(pipeline_file), strict=strict_unknown_keys, registry=registry)
    if errors:
        raise PipelineLoadError("\n".join(e.render() for e in errors))
    return spec
