"""`trakt-dagster loom ...`: list, validate and run loom pipelines, each run through Dagster.

Example:
    ```
    trakt-dagster loom list                                   # pipelines, processes, steps, assets, params
    trakt-dagster loom validate                               # loom's compile errors, config errors; exit 1 on any
    trakt-dagster loom run OrdersNightly --param run_date=2026-03-30
    trakt-dagster loom run OrdersNightly --include DailySummary --include CleanOrders --param run_date=2026-03-30
    ```
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

ROOT_OPTION = click.option(
    "--root", default=".", type=click.Path(file_okay=False, path_type=Path), help="Folder holding pipelines/."
)


@click.group("loom")
def loom_group() -> None:
    """loom.etl pipelines (ETLPipeline classes) on Dagster: list, validate, run."""


def _load(root: Path) -> tuple[list[Any], Any]:
    """The loom pipelines under `root` and their load result; a pipeline whose name another pipeline (of any
    tool) also uses is left out, with the clash among the errors, as in the code location."""
    from trakt_dagster.core.discovery import NamedPipeline, clashes_with, clashing_names
    from trakt_dagster.core.names import dagster_name
    from trakt_dagster.loom.frontend import load_pipelines

    pipelines, result = load_pipelines(root)
    clashes = clashes_with(root, "loom", [NamedPipeline(p.name, "loom", p.module_path) for p in pipelines])
    if clashes:
        left_out = clashing_names(clashes)
        pipelines = [p for p in pipelines if dagster_name(p.name) not in left_out]
        result.errors.extend(clashes)
    return pipelines, result


def _print_errors(errors: list[Any]) -> None:
    from trakt_dagster.core.errors import PipelineLoadErrors

    click.echo(PipelineLoadErrors(errors).render(), err=True)


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


@loom_group.command("list")
@click.argument("root", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
def list_command(root: Path) -> None:
    """List loom pipelines: module, config, params, processes and steps (parallel groups) with their assets."""
    from trakt_dagster.loom.translate import build_loom_graphs

    pipelines, result = _load(root)
    graphs, _, _ = build_loom_graphs(pipelines)
    assets = {g.name: {t.key: t for t in g.tasks} for g in graphs}
    for pipeline in sorted(pipelines, key=lambda p: p.name):
        click.echo(f"{pipeline.name}  [loom]  {pipeline.module_path}:{pipeline.line or ''}")
        click.echo(f"  config: {pipeline.config.path}")
        params = ", ".join(
            f"{f.name}{'' if f.required else '=' + repr(f.default if f.has_default else '...')}"
            for f in pipeline.params
        )
        click.echo(f"  params: {pipeline.params_class.__name__}({params})")
        if pipeline.settings.partitions is not None:
            parts = pipeline.settings.partitions
            click.echo(f"  partitions: daily on {parts.field} from {parts.start.isoformat()}")
        for process, keys in pipeline.processes:
            click.echo(f"  process: {process}")
            for key in keys:
                step = pipeline.step(key)
                task = assets.get(pipeline.name, {}).get(key)
                if task is None:
                    continue
                group = f" [parallel {step.parallel_group}]" if step.parallel_group is not None else ""
                if task.is_asset and task.asset_key:
                    shown = "asset " + "/".join(task.asset_key)
                else:
                    shown = step.target.label if step.target is not None else "no target"
                    shown += " (not an asset)"
                click.echo(f"    step: {step.name}{group} -> {shown}")
    if result.warnings:
        for warning in result.warnings:
            click.echo(f"warning: {warning.render()}", err=True)
    if result.errors:
        _print_errors(result.errors)
        sys.exit(1)


@loom_group.command("validate")
@click.argument("pipeline", required=False)
@ROOT_OPTION
def validate_command(pipeline: str | None, root: Path) -> None:
    """Compile every loom pipeline (or one) and check its runner config; errors with file, line, key and fix."""
    pipelines, result = _load(root)
    errors = list(result.errors)
    if pipeline is not None:
        from trakt_dagster.core.errors import errors_of
        from trakt_dagster.loom.launch import find_pipeline

        try:
            chosen = find_pipeline(pipelines, pipeline)
        except KeyError as exc:
            own = errors_of(errors, pipeline)
            if own:
                _print_errors(own)
                _fail(f"Error: loom pipeline {pipeline!r} did not load (see above).")
            if errors:
                _print_errors(errors)
            _fail(f"Error: {exc.args[0]}")
        errors = errors_of(errors, chosen.name)
        pipelines = [chosen]
    for warning in result.warnings:
        click.echo(f"warning: {warning.render()}", err=True)
    if errors:
        _print_errors(errors)
        sys.exit(1)
    click.echo(f"{len(pipelines)} loom pipeline(s) valid: {', '.join(sorted(p.name for p in pipelines)) or '(none)'}")


@loom_group.command("run")
@click.argument("pipeline")
@ROOT_OPTION
@click.option("--include", "include", multiple=True, help="Run only this step or process class (repeatable).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A params field (repeatable).")
@click.option("--partition", default=None, help="Partition key (YYYY-MM-DD) of a partitioned pipeline.")
@click.option("--correlation-id", default=None, help="loom's correlation id (default: from the run).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the run log.")
@click.option("-v", "--verbose", is_flag=True, help="Dagster's whole run log instead of the progress lines.")
def run_command(
    pipeline: str,
    root: Path,
    include: tuple[str, ...],
    params: tuple[str, ...],
    partition: str | None,
    correlation_id: str | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run PIPELINE once through Dagster; prints each step's start and end (a live line on a terminal, plain
    lines otherwise), then the run id, each step's status and the manifest path."""
    from trakt_dagster.core.progress import command_progress
    from trakt_dagster.loom.launch import IncludeError, run_pipeline
    from trakt_dagster.loom.params import ParamsError

    values = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"Error: invalid --param '{item}'. Expected KEY=VALUE.")
        values[key] = value
    try:
        with command_progress(enabled=not quiet and not verbose):
            outcome = run_pipeline(
                root,
                pipeline,
                include=list(include),
                params=values,
                partition=partition,
                correlation_id=correlation_id,
                log_level="INFO" if verbose and not quiet else "WARNING",
            )
    except (KeyError, IncludeError, ParamsError) as exc:
        _fail(f"Error: {exc.args[0] if exc.args else exc}")
    click.echo(f"run id: {outcome.run_id}")
    click.echo(f"status: {outcome.status}")
    manifest = outcome.manifest or {}
    states = manifest.get("tasks") or {}
    for key in _task_order(root, pipeline, states):
        state = states[key]
        status = "not run" if state["status"] == "pending" else state["status"]
        line = f"  {key}: {status}"
        if state.get("duration_ms") is not None:
            line += f" ({state['duration_ms']:.0f} ms)"
        if state.get("error"):
            line += f" - {state['error']['type']}: {state['error']['message']}"
        elif state.get("reason"):
            line += f" - {state['reason']}"
        click.echo(line)
    click.echo(f"manifest: {outcome.manifest_path}")
    if not outcome.success and manifest.get("error"):
        error = manifest["error"]
        click.echo(f"error: {error['type']}: {error['message']}", err=True)
    sys.exit(0 if outcome.success else 1)


def _task_order(root: Path, pipeline: str, states: dict[str, Any]) -> list[str]:
    """The manifest's tasks in plan order (the manifest file sorts them by name)."""
    from trakt_dagster.core.discovery import LoadOptions
    from trakt_dagster.loom.frontend import load_pipelines
    from trakt_dagster.loom.launch import find_pipeline
    from trakt_dagster.loom.translate import build_loom_graph

    # the modules that may define it (as the run itself looked), every module only when that finds nothing
    pipelines, _ = load_pipelines(root, LoadOptions(only=frozenset({pipeline})))
    if not pipelines:
        pipelines, _ = load_pipelines(root)
    try:
        order = list(build_loom_graph(find_pipeline(pipelines, pipeline)).task_keys)
    except KeyError:
        order = []
    return [k for k in order if k in states] + sorted(k for k in states if k not in order)
