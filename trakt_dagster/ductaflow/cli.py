"""`trakt-dagster ductaflow ...`: ductaflow's ways of running flows, builds and conductors, on Dagster.

Example:
    ```
    trakt-dagster ductaflow list                              # projects, flows, builds, partitions, jobs
    trakt-dagster ductaflow validate                          # every load error (file, line, key, fix)
    trakt-dagster ductaflow run prepare_demand                # the flow's default instance, one Dagster run
    trakt-dagster ductaflow run forecast_build --instance Scenario_HighGrowth_North
    trakt-dagster ductaflow run clean --instance eu --config runs/demo/clean/eu/clean_config.json
    trakt-dagster ductaflow conduct --workers 2               # the whole grid, in parallel
    trakt-dagster ductaflow conduct --changed                 # only scenarios whose config or code changed
    trakt-dagster ductaflow prepare clean --instance eu       # a debug folder: config, notebook, launch.json
    trakt-dagster ductaflow report                            # regenerate conductor results and HTML report
    ```
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

ROOT_OPTION = click.option(
    "--root",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding pipelines/ (default: current folder).",
)
ICONS = {"success": "✅", "warning": "⚠️", "error": "❌", "pending": "…"}


@click.group("ductaflow")
def ductaflow_group() -> None:
    """ductaflow projects (flows/, builds/, config/, conductor.py) on Dagster."""


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _render(errors: list[Any]) -> str:
    from trakt_dagster.core.errors import PipelineLoadErrors

    return PipelineLoadErrors(errors).render()


@ductaflow_group.command("list")
@ROOT_OPTION
def list_command(root: Path) -> None:
    """Projects with their flows, builds, instances (partitions), conductors and jobs."""
    from trakt_dagster.ductaflow.frontend import load_projects
    from trakt_dagster.ductaflow.translate import graph_name

    projects, result = load_projects(root)
    clashes = _clashes(root, [(graph_name(p, n), n.path) for p in projects for n in p.notebooks])
    for project in projects:
        click.echo(f"{project.name}  [ductaflow]  {project.folder}")
        for notebook in project.notebooks:
            parts = (
                f"{len(notebook.instances)} partitions ({notebook.partitioned_by})"
                if notebook.partitioned
                else "1 instance"
            )
            deps = f", reads {', '.join(notebook.deps)}" if notebook.deps else ""
            click.echo(f"  {notebook.kind}: {notebook.name}  ({parts}{deps})  job: {graph_name(project, notebook)}")
        for conductor in project.conductors:
            kind, name = conductor.target
            click.echo(
                f"  conductor: {conductor.name}  ({len(conductor.scenarios)} scenarios of "
                f"{' x '.join(conductor.active_dimensions)} -> {kind} {name})"
            )
    if result.errors or clashes:
        _fail(_render([*result.errors, *clashes]))


def _clashes(root: Path, named: list[tuple[str, Path]]) -> list[Any]:
    """Name collisions of these notebooks' pipelines with each other and with other tools' pipelines."""
    from trakt_dagster.core.discovery import NamedPipeline, clashes_with

    return clashes_with(root, "ductaflow", [NamedPipeline(name, "ductaflow", path) for name, path in named])


@ductaflow_group.command("validate")
@ROOT_OPTION
def validate_command(root: Path) -> None:
    """Read every ductaflow project; print errors and warnings; exit 1 on any error."""
    from trakt_dagster.core.discovery import LoadOptions
    from trakt_dagster.ductaflow.frontend import load

    result = load(root, LoadOptions())
    clashes = _clashes(root, [(g.name, g.source_file) for g in result.graphs])
    for warning in result.warnings:
        click.echo(f"WARNING: {warning.render()}", err=True)
    if result.errors or clashes:
        _fail(_render([*result.errors, *clashes]))
    names = sorted({g.asset_prefix or g.name for g in result.graphs})
    click.echo(
        f"{len(result.graphs)} ductaflow notebook(s) valid in {len(names)} project(s): {', '.join(names) or '(none)'}"
    )


def _print_instances(instances: dict[str, dict[str, Any]]) -> None:
    for key, state in instances.items():
        status = state.get("status", "?")
        duration = f"{state['duration_s']:.1f}s" if state.get("duration_s") is not None else ""
        name = state.get("instance", key)
        click.echo(f"  {ICONS.get(status, '?')} {name:<40} {status:<8} {duration:>7}  {state.get('folder', '')}")
        if state.get("error"):
            click.echo("      " + state["error"].splitlines()[0], err=True)


def _summary(outcome: Any) -> None:
    _print_instances(outcome.instances)
    for run in outcome.runs:
        click.echo(f"run id: {run.run_id}  status: {run.status}  manifest: {run.manifest_path}")
    counts = {
        s: sum(1 for v in outcome.instances.values() if v.get("status") == s) for s in ("success", "warning", "error")
    }
    click.echo(
        f"status: {'SUCCESS' if outcome.success else 'FAILURE'} "
        f"({counts['success']} green, {counts['warning']} amber, {counts['error']} red)"
    )


def _op_config(
    workers: int | None, config_file: Path | None, instance: str | None, html: bool | None
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if workers:
        config["workers"] = workers
    if config_file is not None:
        config["config_file"] = str(config_file.resolve())
    if instance:
        config["instance"] = instance
    if html is False:
        config["export_html"] = False
    return config


def _log_level(quiet: bool, verbose: bool) -> str:
    """Dagster's console log: all of it with `-v`, else warnings and errors (the progress lines tell the rest)."""
    return "INFO" if verbose and not quiet else "WARNING"


@ductaflow_group.command("run")
@click.argument("notebook")
@ROOT_OPTION
@click.option("--instance", "instances", multiple=True, help="Instance / scenario (partition) to run (repeatable).")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Run with this JSON config."
)
@click.option("--workers", type=int, default=None, help="Instances run at once.")
@click.option("--no-html", is_flag=True, help="Do not export the executed notebooks to HTML.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the run log.")
@click.option("-v", "--verbose", is_flag=True, help="Dagster's whole run log instead of the progress lines.")
def run_command(
    notebook: str,
    root: Path,
    instances: tuple[str, ...],
    config_file: Path | None,
    workers: int | None,
    no_html: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run a flow or build (`<project>/<name>` or `<name>`) through Dagster; exit 1 when an instance failed.

    A partitioned notebook runs the instances given (all when none); an unpartitioned one runs its
    `default` instance, or the one named. `--config` runs with that JSON instead (e.g. a saved
    `<flow>_config.json`, to re-run a failed instance exactly as it ran). Prints each run's start and end (a
    live line on a terminal, plain lines otherwise), then each instance's status.
    """
    from trakt_dagster.core.progress import command_progress
    from trakt_dagster.ductaflow.launch import LaunchError, resolve, run_target

    try:
        target = resolve(root, notebook)
        if config_file is not None and not config_file.is_file():
            raise LaunchError(f"no config file {config_file}")
        partitions = [target.partition_of(i) for i in instances] if target.notebook.partitioned and instances else None
        if not target.notebook.partitioned and len(instances) > 1:
            raise LaunchError(f"{target.notebook.name} is not partitioned: give at most one --instance")
        named = instances[0] if instances and not target.notebook.partitioned else None
        with command_progress(enabled=not quiet and not verbose):
            outcome = run_target(
                target,
                partitions=partitions,
                op_config=_op_config(workers, config_file, named, False if no_html else None),
                log_level=_log_level(quiet, verbose),
            )
    except LaunchError as exc:
        _fail(f"Error: {exc}")
    _summary(outcome)
    sys.exit(0 if outcome.success else 1)


@ductaflow_group.command("conduct")
@click.argument("conductor", required=False)
@ROOT_OPTION
@click.option("--scenario", "scenarios", multiple=True, help="Run only this scenario (repeatable).")
@click.option("--workers", type=int, default=None, help="Scenarios run at once (default: CPUs, at most 4).")
@click.option("--changed", is_flag=True, help="Only scenarios Dagster sees as missing or stale (needs DAGSTER_HOME).")
@click.option("--no-html", is_flag=True, help="Do not export the executed notebooks to HTML.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the run log.")
@click.option("-v", "--verbose", is_flag=True, help="Dagster's whole run log instead of the progress lines.")
def conduct_command(
    conductor: str | None,
    root: Path,
    scenarios: tuple[str, ...],
    workers: int | None,
    changed: bool,
    no_html: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run a conductor's scenario grid through Dagster, in parallel; prints the run's progress (as `run`
    does), then each scenario's status."""
    from trakt_dagster.core.launch import open_instance
    from trakt_dagster.core.progress import command_progress
    from trakt_dagster.ductaflow.launch import LaunchError, changed_partitions, resolve_conductor, run_target

    try:
        found, target = resolve_conductor(root, conductor)
        partitions = [target.partition_of(s) for s in scenarios] if scenarios else None
        instance = open_instance()
        try:
            if changed:
                stale = changed_partitions(target, instance)
                partitions = [p for p in stale if partitions is None or p in partitions]
                click.echo(f"{len(partitions)} of {len(target.notebook.instances)} scenario(s) changed or missing")
                if not partitions:
                    sys.exit(0)
            kind, name = found.target
            click.echo(
                f"conductor {found.name}: {kind} {name}, {len(partitions or target.notebook.instances)} scenario(s)"
            )
            with command_progress(enabled=not quiet and not verbose):
                outcome = run_target(
                    target,
                    partitions=partitions,
                    op_config=_op_config(workers, None, None, False if no_html else None),
                    instance=instance,
                    log_level=_log_level(quiet, verbose),
                )
        finally:
            instance.dispose()
    except LaunchError as exc:
        _fail(f"Error: {exc}")
    _summary(outcome)
    sys.exit(0 if outcome.success else 1)


@ductaflow_group.command("prepare")
@click.argument("notebook")
@ROOT_OPTION
@click.option("--instance", default=None, help="Instance / scenario (default: the only or 'default' one).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Use this JSON config.")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), help="Debug folder to prepare.")
def prepare_command(
    notebook: str, root: Path, instance: str | None, config_file: Path | None, folder: Path | None
) -> None:
    """Prepare a debug folder without executing: the config, an unexecuted notebook with the config injected,
    and `launch.json` to step through the flow as a script. Later runs from that config execute normally."""
    from trakt_dagster.ductaflow.debug import prepare_debug_folder
    from trakt_dagster.ductaflow.launch import LaunchError

    try:
        prepared = prepare_debug_folder(root, notebook, instance=instance, config_file=config_file, folder=folder)
    except (LaunchError, ValueError, OSError) as exc:
        _fail(f"Error: {exc}")
    click.echo(f"prepared (not executed): {prepared.execution_dir}")
    click.echo(f"  config:   {prepared.config_file}")
    click.echo(f"  notebook: {prepared.notebook}")
    click.echo(f"  launch:   {prepared.execution_dir / 'launch.json'}")
    click.echo(json.dumps(json.loads((prepared.execution_dir / "launch.json").read_text()), indent=2))


@ductaflow_group.command("report")
@click.argument("conductor", required=False)
@ROOT_OPTION
def report_command(conductor: str | None, root: Path) -> None:
    """Regenerate conductor_results.json and the HTML status report from Dagster's records ($DAGSTER_HOME)."""
    import os

    from trakt_dagster.core.launch import open_instance
    from trakt_dagster.ductaflow.launch import LaunchError, resolve_conductor
    from trakt_dagster.ductaflow.report import write_conductor_report
    from trakt_dagster.ductaflow.runtime import work_root

    if not os.environ.get("DAGSTER_HOME"):
        _fail("Error: the report is built from Dagster's run history: set DAGSTER_HOME to the instance's folder")
    try:
        found, target = resolve_conductor(root, conductor)
    except LaunchError as exc:
        _fail(f"Error: {exc}")
    instance = open_instance()
    try:
        results, html = write_conductor_report(
            target.project, found, work_root(Path(target.runs_dir), target.project), instance
        )
    finally:
        instance.dispose()
    data = json.loads(results.read_text())
    ok = sum(1 for r in data["results"] if r["status"] == "success")
    click.echo(f"{len(data['results'])} scenario(s): {ok} successful, {len(data['results']) - ok} failed")
    click.echo(f"results: {results}")
    click.echo(f"report:  {html}")
