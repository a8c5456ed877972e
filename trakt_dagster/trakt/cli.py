"""`trakt-dagster trakt ...`: trakt's own command line, running through Dagster.

A trakt user's command works by putting `trakt-dagster` in front:
`trakt run --pipeline sales --input-dir data` → `trakt-dagster trakt run --pipeline sales --input-dir data`.
Results, messages and exit codes are trakt's (spec §2.15).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from trakt_dagster.trakt.errors import ConfigError

RUNS_DIR_ENV = "TRAKT_DAGSTER_RUNS_DIR"


@click.group("trakt", invoke_without_command=True)
@click.pass_context
def trakt_group(ctx: click.Context) -> None:
    """trakt's commands (run, validate, init) with trakt's flags."""
    if ctx.invoked_subcommand is None:  # trakt: no sub-command prints the help and exits 1
        click.echo(ctx.get_help())
        ctx.exit(1)


def _pipeline_file(pipeline: str | None, pipeline_file: str | None) -> Path:
    if pipeline_file:
        return Path(pipeline_file)
    if pipeline is None:
        raise click.UsageError("provide --pipeline or --pipeline-file.")
    if "/" in pipeline or pipeline.endswith((".yaml", ".yml")):
        return Path(pipeline)
    return Path("pipelines") / pipeline / "pipeline.yaml"


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def load_message(errors: list[Any]) -> str:
    """trakt's one-line load error, then each problem with its file, line, key and fix.

    trakt stops at its first problem and joins validation parts with `; ` behind one
    `Pipeline '<name>' is invalid: ` prefix; the first line keeps exactly that form.

    Example:
        >>> from trakt_dagster.core.errors import LoadError, SourceLocation
        >>> where = SourceLocation(Path("p/pipeline.yaml"), 3, "inputs.src")
        >>> print(load_message([LoadError("Pipeline 'p' is invalid: unused inputs=src", where, "use it")]))
        Pipeline 'p' is invalid: unused inputs=src
          at p/pipeline.yaml:3 (key inputs.src)
          fix: use it
    """
    parts = [error.message.split(" is invalid: ", 1) for error in errors]
    if all(len(part) == 2 for part in parts):
        first = f"{parts[0][0]} is invalid: " + "; ".join(part for _, part in parts)
    else:
        first = errors[0].message
    lines = [first]
    for error, part in zip(errors, parts, strict=True):
        indent = "  "
        if error.location is not None and len(errors) > 1:
            lines.append(f"  {error.location.describe()}: {part[-1]}")
            indent = "    "
        elif error.location is not None:
            lines.append(f"  at {error.location.describe()}")
        if error.hint:
            lines.append(f"{indent}fix: {error.hint}")
    return "\n".join(lines)


def _load(path: Path, lenient: bool, prefix: str) -> Any:
    from trakt_dagster.trakt.loader import load_pipeline_spec

    spec, errors = load_pipeline_spec(path, strict=not lenient)
    if errors:
        _fail(f"{prefix}: {load_message(errors)}")
    _refuse_clashes(spec)
    return spec


def _refuse_clashes(spec: Any) -> None:
    """Fail when another pipeline under the current folder (of any tool) has this pipeline's name: the
    Dagster code location loads neither, so neither runs here either."""
    from trakt_dagster.core.discovery import NamedPipeline, clashes_with
    from trakt_dagster.core.errors import PipelineLoadErrors

    clashes = clashes_with(Path("."), "trakt", [NamedPipeline(spec.name, "trakt", spec.source_file)], same_tool=True)
    if clashes:
        _fail(f"{PipelineLoadErrors(clashes).render()}\nError: pipeline '{spec.name}' did not load (see above).")


def _configure_trakt_log(level: str) -> None:
    """trakt's CLI log: `%(message)s` lines on stderr from the `trakt.runner` logger only."""
    from trakt_dagster.core.progress import StderrHandler
    from trakt_dagster.trakt.runtime import RUNNER_LOG

    handler = StderrHandler()  # the current sys.stderr: above the live progress line on a terminal
    handler.setFormatter(logging.Formatter("%(message)s"))
    for old in list(RUNNER_LOG.handlers):
        RUNNER_LOG.removeHandler(old)
    RUNNER_LOG.addHandler(handler)
    RUNNER_LOG.setLevel(getattr(logging, level))
    RUNNER_LOG.propagate = False


def _pipeline_options(fn: Any) -> Any:
    fn = click.option("--pipeline", help="Pipeline name (pipelines/<NAME>/pipeline.yaml) or path.")(fn)
    fn = click.option("--pipeline-file", help="Path to pipeline.yaml (wins over --pipeline).")(fn)
    fn = click.option("--lenient", is_flag=True, help="Accept unknown keys as trakt's lenient mode does.")(fn)
    return fn


@trakt_group.command("run")
@_pipeline_options
@click.option("--input-dir", default=".", show_default=True, help="Folder input URIs are relative to.")
@click.option("--output-dir", default="outputs", show_default=True, help="Folder outputs are written to.")
@click.option("--input", "inputs", multiple=True, metavar="NAME=PATH", help="Input override (repeatable).")
@click.option("--param", "params", multiple=True, metavar="STEP.PARAM=VALUE", help="Const override (repeatable).")
@click.option("--run-id", default=None, help="Run id for the manifest (default: the Dagster run id).")
@click.option("--pipeline-version", default=None, help="pipeline.version in the manifest.")
@click.option("--manifest-path", default=None, help="Where to write manifest.json (default: <output-dir>).")
@click.option("--stream-chunk-size", default=50_000, show_default=True, type=int, help="Rows per chunk (stream).")
@click.option("--otel-enabled", is_flag=True, help="Accepted for compatibility; Dagster's run log replaces spans.")
@click.option("--otel-service-name", default="trakt", help="Accepted for compatibility.")
@click.option("--otel-tracer-name", default="trakt.runner", help="Accepted for compatibility.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Debug log and full tracebacks.")
def run_command(
    pipeline: str | None,
    pipeline_file: str | None,
    lenient: bool,
    input_dir: str,
    output_dir: str,
    inputs: tuple[str, ...],
    params: tuple[str, ...],
    run_id: str | None,
    pipeline_version: str | None,
    manifest_path: str | None,
    stream_chunk_size: int,
    otel_enabled: bool,
    otel_service_name: str,
    otel_tracer_name: str,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run one trakt pipeline through Dagster; prints trakt's result JSON and trakt's messages.

    Without `-v` the terminal shows what trakt's CLI shows (its progress lines, one concise error line and
    the `--verbose` hint); `-v` adds Dagster's event log with the full tracebacks.
    """
    from trakt_dagster.core.builder import build_graph_definitions
    from trakt_dagster.core.launch import launch_job
    from trakt_dagster.core.names import dagster_name
    from trakt_dagster.core.progress import command_progress
    from trakt_dagster.core.resources import RunStorage
    from trakt_dagster.trakt.overrides import (
        apply_const_overrides,
        check_input_overrides,
        parse_input_overrides,
        parse_param_overrides,
    )
    from trakt_dagster.trakt.translate import build_trakt_graph

    level = "DEBUG" if verbose else "WARNING" if quiet else "INFO"
    _configure_trakt_log(level)
    if not pipeline and not pipeline_file:
        _fail("Error: provide --pipeline or --pipeline-file.")
    path = _pipeline_file(pipeline, pipeline_file)
    spec = _load(path, lenient, "Error loading pipeline")
    try:  # trakt applies overrides before its runner starts; here nothing is launched for a bad one
        input_overrides = parse_input_overrides(inputs)
        param_overrides = parse_param_overrides(params)
        check_input_overrides(spec, input_overrides)
        apply_const_overrides(spec, param_overrides)
    except ConfigError as exc:
        _fail(f"{_error_line({'type': 'ValueError', 'message': str(exc)})}\n{VERBOSE_HINT}")
    graph = build_trakt_graph(spec)
    runs_dir = os.environ.get(RUNS_DIR_ENV) or str(Path(".trakt-dagster") / "runs")
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    trakt_manifest = manifest_path or str(Path(output_dir) / "manifest.json")
    op_config: dict[str, Any] = {
        "input_dir": input_dir,
        "output_dir": output_dir,
        "inputs": input_overrides,
        "params": param_overrides,
        "manifest_path": trakt_manifest,
        "run_id": run_id,
        "pipeline_version": pipeline_version,
        "stream_chunk_size": stream_chunk_size,
    }
    dagster_level = "DEBUG" if verbose else "CRITICAL"
    op_name = f"{dagster_name(graph.name)}_pipeline"
    logging.getLogger("dagster").setLevel(getattr(logging, dagster_level))
    with command_progress(enabled=not quiet and not verbose, own_output=True):  # a live line on a terminal
        outcome = launch_job(
            defs,
            graph,
            runs_dir=runs_dir,
            run_config={"ops": {op_name: {"config": op_config}}},
            log_level=dagster_level,
        )
    manifest = outcome.manifest or {}
    if outcome.success:
        click.echo(
            f"Pipeline '{spec.name}' completed successfully ({len(manifest.get('steps', []))} steps, "
            f"{len(manifest.get('outputs', {}))} outputs)",
            err=True,
        )
        click.echo(json.dumps(trakt_result(manifest, trakt_manifest), indent=2, sort_keys=True))
        return
    error = manifest.get("error") or {"type": "Error", "message": "the run failed (see the Dagster run log)"}
    line = _error_line(error)
    if verbose:
        click.echo(f"{line}\nRun folder: {manifest.get('run_folder')}", err=True)
    elif error.get("type") in _OWN_LINE_TYPES:
        click.echo(line, err=True)
    else:
        click.echo(f"{line}\n{VERBOSE_HINT}", err=True)
    sys.exit(1)


VERBOSE_HINT = "Use --verbose for full traceback."
_OWN_LINE_TYPES = frozenset({"FileNotFoundError", "KeyError", "PipelineLoadError", "PipelineValidationError"})
"""Errors trakt's CLI reports with their own line and no `--verbose` hint."""


def _error_line(error: dict[str, Any]) -> str:
    """trakt's CLI line for a failed run's error (by the exception type, as trakt's handlers)."""
    kind, message = error.get("type"), error.get("message")
    if kind == "FileNotFoundError":  # trakt's line, without the folder searched (the manifest keeps it)
        return f"File not found: {re.sub(r' [(]searched in [^)]*[)]$', '', str(message))}"
    if kind == "KeyError":
        return f"Missing artifact: {message}"
    if kind == "PipelineLoadError":
        return f"Error loading pipeline: {message}"
    if kind == "PipelineValidationError":
        return f"Pipeline validation failed: {message}"
    return f"Error: {kind}: {message}"


def trakt_result(manifest: dict[str, Any], manifest_path: str) -> dict[str, Any]:
    """trakt's `run()` return value, built from the manifest (what trakt's CLI prints)."""
    return {
        "run_id": manifest.get("run_id"),
        "pipeline": (manifest.get("pipeline") or {}).get("name"),
        "outputs": manifest.get("outputs", {}),
        "steps": [
            {k: step.get(k) for k in ("step_id", "duration_ms", "rows_in", "rows_out", "outputs", "metrics")}
            for step in manifest.get("steps", [])
        ],
        "status": manifest.get("status"),
        "manifest_path": manifest_path,
    }


@trakt_group.command("validate")
@_pipeline_options
@click.option("-q", "--quiet", is_flag=True, help="Accepted for compatibility.")
@click.option("-v", "--verbose", is_flag=True, help="Accepted for compatibility.")
def validate_command(
    pipeline: str | None, pipeline_file: str | None, lenient: bool, quiet: bool, verbose: bool
) -> None:
    """Check one trakt pipeline as trakt does."""
    if not pipeline and not pipeline_file:
        _fail("Error: provide --pipeline or --pipeline-file.")
    spec = _load(_pipeline_file(pipeline, pipeline_file), lenient, "Validation failed")
    click.echo(
        f"Pipeline '{spec.name}' is valid ({len(spec.inputs)} inputs, {len(spec.steps)} steps, "
        f"{len(spec.outputs)} outputs, mode={spec.mode})"
    )


@trakt_group.command("init")
@click.argument("name")
def init_command(name: str) -> None:
    """Scaffold NAME/ with pipeline.yaml, a step module and a sample input (refuses an existing folder)."""
    from trakt_dagster.trakt.scaffold import scaffold_pipeline

    try:
        created = scaffold_pipeline(Path(name))
    except FileExistsError as exc:
        _fail(f"Error: {exc}")
    click.echo(f"Created trakt pipeline in {created}")
