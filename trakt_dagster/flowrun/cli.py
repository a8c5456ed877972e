"""`trakt-dagster flowrun ...`: flowrun's engine operations on the command line, running through Dagster.

flowrun has no command line of its own; these commands are its engine methods for the DAGs under a root:

Example:
    ```
    trakt-dagster flowrun list                          # DAGs, API style, tasks and deps
    trakt-dagster flowrun validate orders               # engine.validate("orders")
    trakt-dagster flowrun display orders                # engine.display_dag("orders")
    trakt-dagster flowrun run orders --meta batch_id=2026-04-01      # run_once, one Dagster run
    trakt-dagster flowrun run orders --target summary                # run_subgraph(["summary"])
    trakt-dagster flowrun resume <run id> --from-task summary        # resume (needs DAGSTER_HOME)
    trakt-dagster flowrun report <run id>                            # get_run_report(run id)
    ```
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

ROOT_OPTION = click.option(
    "--root", default=".", type=click.Path(file_okay=False, path_type=Path), help="Folder holding pipelines/."
)


@click.group("flowrun")
def flowrun_group() -> None:
    """flowrun's engine operations (validate, display, run, resume, report) on Dagster."""


def _load(root: Path, only: str | None = None) -> tuple[list[Any], list[Any]]:
    """The flowrun DAGs under `root` and every load error; a DAG whose name a pipeline of another tool also
    uses is left out, with the clash among the errors, as in the code location.

    With `only` (a command about one DAG), the modules whose source never mentions that name are not
    imported; when that quick look finds neither the DAG nor an error of it, every module is loaded (a name
    built at run time, or the "not registered" message listing every DAG)."""
    from trakt_dagster.core.discovery import NamedPipeline, clashes_with, clashing_names
    from trakt_dagster.core.errors import errors_of
    from trakt_dagster.core.names import dagster_name
    from trakt_dagster.flowrun.frontend import load_dags

    dags, result = load_dags(root, frozenset({only}) if only is not None else None)
    found = only is None or errors_of(result.errors, only) or any(only in (d.name, dagster_name(d.name)) for d in dags)
    if not found:
        dags, result = load_dags(root)
    clashes = clashes_with(root, "flowrun", [NamedPipeline(d.name, "flowrun", d.module_path) for d in dags])
    if clashes:
        left_out = clashing_names(clashes)
        dags = [d for d in dags if dagster_name(d.name) not in left_out]
    return dags, [*result.errors, *clashes]


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _pick(dags: list[Any], name: str, errors: Sequence[Any] = ()) -> Any:
    from trakt_dagster.flowrun.launch import find_dag
    from trakt_dagster.flowrun.translate import build_flowrun_graph

    graphs = [build_flowrun_graph(dag) for dag in dags]
    try:
        graph = find_dag(graphs, name, errors)
    except KeyError as exc:
        _fail(f"Error: {exc.args[0]}")
    return next(dag for dag in dags if dag.name == graph.name)


def _metadata(items: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"Error: invalid --meta '{item}'. Expected KEY=VALUE.")
        found[key] = value
    return found


def _print_errors(errors: list[Any]) -> None:
    from trakt_dagster.core.errors import PipelineLoadErrors

    click.echo(PipelineLoadErrors(errors).render(), err=True)


@flowrun_group.command("list")
@click.argument("root", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
def list_command(root: Path) -> None:
    """List flowrun DAGs: module, API style, max_parallel, tasks in topological order with their deps."""
    dags, errors = _load(root)
    for dag in sorted(dags, key=lambda d: d.name):
        click.echo(f"{dag.name}  [{dag.style}]  {dag.module_path}:{dag.line or ''} ({dag.attribute})")
        click.echo(f"  max_parallel: {dag.max_parallel}")
        for task in dag.tasks:
            extras = []
            if task.retries:
                extras.append(f"retries={task.retries}")
            if task.timeout_s is not None:
                extras.append(f"timeout_s={task.timeout_s}")
            deps = f" <- {', '.join(task.deps)}" if task.deps else ""
            click.echo(f"  task: {task.name}{deps}{'  (' + ', '.join(extras) + ')' if extras else ''}")
    if errors:
        _print_errors(errors)
        sys.exit(1)


@flowrun_group.command("validate")
@click.argument("dag", required=False)
@ROOT_OPTION
def validate_command(dag: str | None, root: Path) -> None:
    """Validate every flowrun DAG (or one): flowrun's errors with file, line and fix; exit 1 on any."""
    dags, errors = _load(root, dag)
    if dag is not None:
        chosen = _pick(dags, dag, errors)
        errors = [e for e in errors if e.location is None or e.location.file == chosen.module_path]
        dags = [chosen]
    if errors:
        _print_errors(errors)
        sys.exit(1)
    click.echo(f"{len(dags)} flowrun DAG(s) valid: {', '.join(sorted(d.name for d in dags)) or '(none)'}")


@flowrun_group.command("display")
@click.argument("dag")
@ROOT_OPTION
def display_command(dag: str, root: Path) -> None:
    """Print a DAG as flowrun's ASCII tree (shared nodes marked [shared])."""
    from trakt_dagster.flowrun.display import render_tree

    dags, errors = _load(root, dag)
    chosen = _pick(dags, dag, errors)
    click.echo(render_tree(chosen.name, [t.name for t in chosen.tasks], chosen.edges))


@flowrun_group.command("run")
@click.argument("dag")
@ROOT_OPTION
@click.option("--target", "targets", multiple=True, help="run_subgraph: this task and its ancestors (repeatable).")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="RunContext metadata (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the run log.")
@click.option("-v", "--verbose", is_flag=True, help="Dagster's whole run log instead of the progress lines.")
def run_command(
    dag: str, root: Path, targets: tuple[str, ...], meta: tuple[str, ...], quiet: bool, verbose: bool
) -> None:
    """Run DAG once through Dagster; prints each task's start and end (a live line on a terminal, plain lines
    otherwise), then the run id, status and each task's status."""
    from trakt_dagster.core.progress import command_progress
    from trakt_dagster.flowrun.launch import run_dag

    metadata = _metadata(meta)
    dags, errors = _load(root, dag)
    chosen = _pick(dags, dag, errors)
    unknown = [t for t in targets if t not in chosen.by_name]
    if unknown:
        _fail(f"Error: Task {unknown[0]!r} is not in the DAG")
    try:
        with command_progress(enabled=not quiet and not verbose):
            level = "INFO" if verbose and not quiet else "WARNING"  # Dagster's console log
            outcome = run_dag(root, chosen.name, targets=targets, metadata=metadata, log_level=level)
    except KeyError as exc:  # e.g. its name clashes with another tool's pipeline
        _fail(f"Error: {exc.args[0]}")
    _print_outcome(outcome)


@flowrun_group.command("resume")
@click.argument("run_id")
@ROOT_OPTION
@click.option("--from-task", "from_tasks", multiple=True, help="Also re-run this task and its descendants.")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="New RunContext metadata (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the run log.")
@click.option("-v", "--verbose", is_flag=True, help="Dagster's whole run log instead of the progress lines.")
def resume_command(
    run_id: str, root: Path, from_tasks: tuple[str, ...], meta: tuple[str, ...], quiet: bool, verbose: bool
) -> None:
    """Resume RUN_ID (a Dagster re-execution); needs DAGSTER_HOME (the instance holding the run). Prints the
    progress of the tasks it runs again as `run` does."""
    from trakt_dagster.core.progress import command_progress
    from trakt_dagster.flowrun.launch import resume_run

    metadata = _metadata(meta)
    try:
        with command_progress(enabled=not quiet and not verbose):
            level = "INFO" if verbose and not quiet else "WARNING"  # Dagster's console log
            outcome = resume_run(root, run_id, from_tasks=from_tasks, metadata=metadata, log_level=level)
    except (KeyError, RuntimeError) as exc:
        _fail(f"Error: {exc.args[0] if exc.args else exc}")
    _print_outcome(outcome)


@flowrun_group.command("report")
@click.argument("run_id")
@ROOT_OPTION
@click.option("--dag", default=None, help="The DAG of the run (default: searched in the runs folder).")
def report_command(run_id: str, root: Path, dag: str | None) -> None:
    """Print flowrun's run report of a Dagster run (JSON)."""
    from trakt_dagster.core.definitions import default_runs_dir
    from trakt_dagster.flowrun.report import load_run_report

    runs = Path(default_runs_dir(root))
    folders = [runs / dag / run_id] if dag else sorted(runs.glob(f"*/{run_id}"))
    folder = next((f for f in folders if (f / "manifest.json").exists()), None)
    if folder is None:
        _fail(f"Error: no run folder for run {run_id} under {runs}")
    try:
        report = load_run_report(folder)
    except KeyError as exc:
        _fail(f"Error: {exc.args[0]}")
    click.echo(json.dumps(report, indent=2, default=str))


def _print_outcome(outcome: Any) -> None:
    click.echo(f"run id: {outcome.run_id}")
    click.echo(f"status: {outcome.status}")
    click.echo(f"manifest: {outcome.manifest_path}")
    report = (outcome.manifest or {}).get("flowrun_report")
    if report:
        for name in report.get("task_order", report["tasks"]):
            state = report["tasks"][name]
            click.echo(f"  {name}: {state['status']} (attempt {state['attempt']})")
    sys.exit(0 if outcome.success else 1)
