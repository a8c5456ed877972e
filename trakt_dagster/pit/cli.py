"""`trakt-dagster pit ...`: pit's own commands, running through Dagster.

Example:
    ```
    trakt-dagster pit validate                       # every project's errors (file, line, key) and warnings
    trakt-dagster pit run sales                      # one Dagster run of the DAG; exit 1 when it failed
    trakt-dagster pit run sales/load-orders          # only that task (its dependencies are not run)
    trakt-dagster pit logs sales --list              # the DAG's runs, newest first
    trakt-dagster pit logs sales/extract             # that task's log of the newest run (or --run-id)
    trakt-dagster pit outputs --type table --location 'warehouse.*'
    trakt-dagster pit init --type sql reporting      # scaffold projects/reporting/
    trakt-dagster pit serve --port 9090              # daemon + UI + webhook receiver until Ctrl-C
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
    "--project-dir",
    "root",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder holding projects/ (and pit_config.toml).",
)


@click.group("pit")
def pit_group() -> None:
    """pit's commands (validate, run, logs, outputs, init) for projects/<name>/pit.toml, on Dagster."""


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _render(errors: list[Any]) -> str:
    from trakt_dagster.core.errors import PipelineLoadErrors

    return PipelineLoadErrors(errors).render()


@pit_group.command("validate")
@ROOT_OPTION
def validate_command(root: Path) -> None:
    """Validate every pit project; prints errors and warnings; exit 1 on any error."""
    from trakt_dagster.core.discovery import NamedPipeline, clashes_with
    from trakt_dagster.pit.frontend import load_projects

    _, projects, result = load_projects(root)
    errors = [*result.errors, *clashes_with(root, "pit", [NamedPipeline(p.name, "pit", p.pit_toml) for p in projects])]
    for warning in result.warnings:
        click.echo(f"WARNING: {warning.render()}", err=True)
    if errors:
        click.echo(_render(errors), err=True)
        sys.exit(1)
    click.echo(f"{len(projects)} pit project(s) valid: {', '.join(sorted(p.name for p in projects)) or '(none)'}")


@pit_group.command("run")
@click.argument("target")
@ROOT_OPTION
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the run log.")
def run_command(target: str, root: Path, quiet: bool) -> None:
    """Run DAG (or DAG/TASK: only that task) through Dagster; prints pit's summary; exit 1 on failure."""
    from trakt_dagster.core.builder import build_graph_definitions
    from trakt_dagster.core.definitions import default_runs_dir, load_graphs
    from trakt_dagster.core.errors import errors_of
    from trakt_dagster.core.launch import launch_job
    from trakt_dagster.core.resources import RunStorage

    dag, _, task = target.partition("/")
    graphs, errors = load_graphs(root)
    graph = next((g for g in graphs if g.tool == "pit" and g.name == dag), None)
    if graph is None:
        own = errors_of(errors, dag)
        if own:
            _fail(_render(own) + f'\nError: DAG "{dag}" did not load (see above); nothing was run.')
        problems = [e for e in errors if e.tool == "pit"]
        known = ", ".join(sorted(g.name for g in graphs if g.tool == "pit")) or "(none)"
        _fail((_render(problems) + "\n" if problems else "") + f'Error: DAG "{dag}" not found. DAGs: {known}')
    if task and task not in graph.by_key:
        _fail(f'Error: DAG "{dag}" has no task "{task}". Tasks: {", ".join(t.key for t in graph.tasks)}')
    runs_dir = default_runs_dir(root)
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    outcome = launch_job(
        defs, graph, runs_dir=runs_dir, select=[task] if task else (), log_level="WARNING" if quiet else "INFO"
    )
    report = (outcome.manifest or {}).get("pit", {})
    click.echo(f"run id: {report.get('run_id', '?')} (Dagster run {outcome.run_id})")
    for name, state in report.get("tasks", {}).items():
        attempts = state.get("attempts")
        click.echo(f"  {name:<30} {state.get('status', '?'):<16} {'' if attempts is None else f'attempts {attempts}'}")
    click.echo(f"status: {report.get('status', outcome.status.lower())}")
    click.echo(f"snapshot: {outcome.manifest_path.parent}")
    sys.exit(0 if outcome.success else 1)


def _runs(root: Path, dag: str) -> list[dict[str, Any]]:
    from trakt_dagster.core.definitions import default_runs_dir
    from trakt_dagster.core.names import dagster_name

    found = []
    for manifest_path in (Path(default_runs_dir(root)) / dagster_name(dag)).glob("*/manifest.json"):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if "pit" in manifest:
            found.append({"folder": manifest_path.parent, "manifest": manifest})
    return sorted(found, key=lambda r: r["manifest"].get("started_at") or "", reverse=True)


@pit_group.command("logs")
@click.argument("target")
@ROOT_OPTION
@click.option("--list", "list_runs", is_flag=True, help="List the DAG's runs instead of printing a log.")
@click.option("--run-id", default=None, help="pit or Dagster run id (default: the newest run).")
def logs_command(target: str, root: Path, list_runs: bool, run_id: str | None) -> None:
    """Print a run's task logs (DAG or DAG/TASK), or list the DAG's runs."""
    dag, _, task = target.partition("/")
    runs = _runs(root, dag)
    if list_runs:
        for run in runs:
            report = run["manifest"]["pit"]
            click.echo(
                f"{report['run_id']}  {report['status']:<8}  {run['manifest']['dagster_run_id']}  {run['folder']}"
            )
        return
    if run_id:
        runs = [r for r in runs if run_id in (r["manifest"]["pit"]["run_id"], r["manifest"]["dagster_run_id"])]
    if not runs:
        _fail(f'Error: no run of DAG "{dag}"' + (f" with id {run_id}" if run_id else ""))
    report = runs[0]["manifest"]["pit"]
    names = [task] if task else list(report["tasks"])
    for name in names:
        state = report["tasks"].get(name)
        if state is None:
            _fail(f'Error: run {report["run_id"]} has no task "{name}"')
        path = Path(state["log"])
        if not task:
            click.echo(f"=== {name} ({state.get('status')}) ===")
        if path.is_file():
            click.echo(path.read_text(encoding="utf-8", errors="replace"), nl=False)
        else:
            click.echo(f"(no log file: {path} — not run, or removed by keep_artifacts)")


@pit_group.command("outputs")
@ROOT_OPTION
@click.option("--project", default=None, help="Only this DAG.")
@click.option("--type", "kind", default=None, help="Only outputs of this type (e.g. table, file, email).")
@click.option("--location", default=None, help="Only locations matching this glob (Go filepath.Match).")
def outputs_command(root: Path, project: str | None, kind: str | None, location: str | None) -> None:
    """List the [[outputs]] declared by the projects' pit.toml files."""
    from trakt_dagster.pit.frontend import load_projects
    from trakt_dagster.pit.gomatch import go_path_match

    _, projects, result = load_projects(root)
    rows = []
    for p in sorted(projects, key=lambda p: p.name):
        if project and p.name != project:
            continue
        for output in p.outputs:
            if kind and output.type != kind:
                continue
            if location and not go_path_match(location, output.location):
                continue
            rows.append((p.name, output.name, output.type, output.location, str(output.record()["recipients"])))
    if rows:
        widths = [
            max(len(str(r[i])) for r in rows + [("PROJECT", "NAME", "TYPE", "LOCATION", "RECIPIENTS")])
            for i in range(5)
        ]
        for row in [("PROJECT", "NAME", "TYPE", "LOCATION", "RECIPIENTS"), *rows]:
            click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    else:
        click.echo("no outputs")
    if result.errors:
        click.echo(_render(result.errors), err=True)
        sys.exit(1)


@pit_group.command("init")
@click.argument("name")
@click.option("--type", "kind", type=click.Choice(["python", "sql", "shell", "dbt"]), default="python")
@ROOT_OPTION
def init_command(name: str, kind: str, root: Path) -> None:
    """Create projects/NAME/ with a pit.toml and a sample task."""
    from trakt_dagster.pit.scaffold import scaffold_project

    try:
        folder = scaffold_project(root, name, kind)
    except (FileExistsError, ValueError) as exc:
        _fail(f"Error: {exc}")
    click.echo(f"created {folder}")


@pit_group.command("serve")
@ROOT_OPTION
@click.option("--port", default=9090, show_default=True, help="Port of the webhook receiver (pit's HTTP port).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface for the receiver and the UI (pit listens on all interfaces: pass 0.0.0.0 for that).",
)
@click.option("--secrets", "secrets_file", default=None, help="Secrets TOML (.toml or .age) for triggers, tasks.")
@click.option("--no-ui", is_flag=True, help="Run only the Dagster daemon, without the web UI.")
@click.option("--ui-port", default=3000, show_default=True, help="Port of the Dagster web UI.")
@click.option("--verbose", is_flag=True, help="Log every webhook request and Dagster's debug lines.")
def serve_command(
    root: Path, port: int, host: str, secrets_file: str | None, no_ui: bool, ui_port: int, verbose: bool
) -> None:
    """Run pit's triggers on Dagster: the daemon (schedules, FTP watches, webhooks), the UI and the webhook
    receiver, until Ctrl-C or SIGTERM."""
    import logging

    from trakt_dagster.pit.serve import serve

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", stream=sys.stdout)
    status = serve(
        root, host=host, port=port, ui=not no_ui, ui_port=ui_port, secrets_file=secrets_file, verbose=verbose
    )
    sys.exit(status)
