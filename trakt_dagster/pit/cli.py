"""`trakt-dagster pit ...`: pit's own commands and flags, running through Dagster.

pit's global flags work before or after the command: `--project-dir DIR` (also `--root`), `--verbose`/`-v`,
`--secrets FILE`. Output follows pit: `run` prints pit's run summary (Dagster's event lines and tracebacks only
with `--verbose`, which also streams the tasks' output as pit does), `outputs`, `logs --list` and `status`
print pit's tables, errors end with pit's `Error: ...` line and exit status 1.

Example:
    ```
    trakt-dagster pit validate                       # every project's errors (file, line, key) and warnings
    trakt-dagster pit run sales                      # one Dagster run of the DAG; exit 1 when it failed
    trakt-dagster pit run sales/load-orders -v       # only that task, its output on the terminal
    trakt-dagster pit --project-dir /srv/pit status  # the newest run of each DAG
    trakt-dagster pit logs sales --list              # the DAG's runs, newest first
    trakt-dagster pit logs sales/extract             # that task's log of the newest run (or --run-id)
    trakt-dagster pit outputs --type table --location 'warehouse.*'
    trakt-dagster pit init --type transform reporting
    trakt-dagster pit compile reporting --stored-procedure
    trakt-dagster pit serve --port 9090              # daemon + UI + webhook receiver until Ctrl-C
    ```
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click


class _Globals:
    """pit's persistent flags given before the command (`pit --project-dir X run ...`)."""

    def __init__(self, root: Path | None, verbose: bool, secrets: str | None) -> None:
        self.root = root
        self.verbose = verbose
        self.secrets = secrets


def _global_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command pit's persistent flags; values given after the command win over those given before."""

    @click.option(
        "--project-dir",
        "--root",
        "root",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help="Workspace folder holding projects/ (and pit_config.toml); default: the current folder.",
    )
    @click.option("-v", "--verbose", is_flag=True, default=None, help="Task output and Dagster's event lines.")
    @click.option("--secrets", "secrets", default=None, help="Secrets file (.toml or .toml.age).")
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, root: Path | None, verbose: bool | None, secrets: str | None, **kwargs: Any):
        outer = ctx.find_object(_Globals) or _Globals(None, False, None)
        return ctx.invoke(
            func,
            root=root or outer.root or Path("."),
            verbose=bool(verbose or outer.verbose),
            secrets=secrets or outer.secrets,
            **kwargs,
        )

    return wrapper


@click.group("pit")
@click.option(
    "--project-dir",
    "--root",
    "root",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder holding projects/ (default: the current folder).",
)
@click.option("-v", "--verbose", is_flag=True, help="Task output and Dagster's event lines.")
@click.option("--secrets", default=None, help="Secrets file (.toml or .toml.age); default: pit_config.toml's.")
@click.pass_context
def pit_group(ctx: click.Context, root: Path | None, verbose: bool, secrets: str | None) -> None:
    """pit's commands for projects/<name>/pit.toml, run on Dagster."""
    ctx.obj = _Globals(root, verbose, secrets)


def _fail(message: str = "", summary: str = "") -> None:
    """pit's way out: the details, then cobra's `Error: ...` line, exit status 1."""
    if message:
        click.echo(message, err=True, nl=not message.endswith("\n"))
    if summary:
        click.echo(f"Error: {summary}", err=True)
    sys.exit(1)


def _quiet_dagster(verbose: bool) -> None:
    """Without `--verbose`, Dagster's own warnings stay off the terminal (they are in the run's event log)."""
    if not verbose:
        warnings.filterwarnings("ignore", module=r"dagster(\..*)?$")
        warnings.filterwarnings("ignore", category=DeprecationWarning)


def _warn_unknown_keys(result: Any) -> None:
    for warning in result.warnings:
        click.echo(f"WARNING: {warning.render()}", err=True)


# -- validate ---------------------------------------------------------------------------------------------------


@pit_group.command("validate")
@_global_options
def validate_command(root: Path, verbose: bool, secrets: str | None) -> None:
    """Validate every project under projects/ (errors with file, line, key and fix); exit 1 on any error."""
    from trakt_dagster.core.discovery import NamedPipeline, clashes_with
    from trakt_dagster.pit.cli_output import error_lines
    from trakt_dagster.pit.frontend import load_projects
    from trakt_dagster.pit.loader import find_project_files

    with _secrets_file(secrets):
        _, projects, result = load_projects(root)
    # a DAG named like a pipeline of another tool under the same root does not load either
    errors = [*result.errors, *clashes_with(root, "pit", [NamedPipeline(p.name, "pit", p.pit_toml) for p in projects])]
    _warn_unknown_keys(result)
    if errors:
        _fail(error_lines(errors), f"validation found {len(errors)} error(s)")
    if not projects and not list(find_project_files(root)):
        _fail(summary=f"no projects found in {root}/projects/")
    click.echo("All projects validated successfully.")


@contextlib.contextmanager
def _secrets_file(secrets: str | None) -> Iterator[None]:
    """`--secrets FILE` while a command loads projects (webhook tokens and FTP logins are checked at load) and
    runs; the environment is restored afterwards (the command may run inside a longer process)."""
    from trakt_dagster.pit.runtime import SECRETS_ENV

    previous = os.environ.get(SECRETS_ENV)
    if secrets:
        os.environ[SECRETS_ENV] = str(Path(secrets).expanduser().resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SECRETS_ENV, None)
        else:
            os.environ[SECRETS_ENV] = previous


# -- run --------------------------------------------------------------------------------------------------------


@pit_group.command("run")
@click.argument("target", metavar="DAG[/TASK]")
@_global_options
@click.option("-q", "--quiet", is_flag=True, hidden=True, help="Accepted for older scripts; output is pit's anyway.")
def run_command(target: str, root: Path, verbose: bool, secrets: str | None, quiet: bool) -> None:
    """Run a DAG (or DAG/TASK: only that task, its dependencies skipped) through Dagster; prints pit's summary;
    exit 1 when the run failed."""
    from trakt_dagster.pit.cli_output import parse_run_arg

    try:
        dag, task = parse_run_arg(target)
    except ValueError as exc:
        _fail(summary=str(exc))
    _quiet_dagster(verbose)
    from trakt_dagster.core.definitions import load_graphs_for

    with _secrets_file(secrets):
        graphs, errors = load_graphs_for(root, dag)
        _run_graph(graphs, errors, dag, task, root, verbose, secrets)


def _run_graph(
    graphs: list[Any], errors: list[Any], dag: str, task: str, root: Path, verbose: bool, secrets: str | None
) -> None:
    from trakt_dagster.core.errors import errors_of
    from trakt_dagster.pit.cli_output import error_lines
    from trakt_dagster.pit.gofmt import go_list, go_quote

    graph = next((g for g in graphs if g.tool == "pit" and g.name == dag), None)
    if graph is None:
        own = errors_of(errors, dag)
        if own:
            _fail(
                error_lines(own),
                f"validation failed with {len(own)} error(s): DAG {go_quote(dag)} did not load, nothing was run",
            )
        known = ", ".join(sorted(g.name for g in graphs if g.tool == "pit"))
        problems = [e for e in errors if e.tool == "pit"]
        _fail(error_lines(problems), f"DAG {go_quote(dag)} not found (available: {known})")
    if task and task not in _pit_tasks(graph):
        _fail(summary=f"task {go_quote(task)} not found in DAG {go_quote(dag)}")
    if task and _pit_tasks(graph)[task]:
        deps = go_list(list(_pit_tasks(graph)[task]))
        click.echo(
            f"warning: task {go_quote(task)} depends on {deps} — dependencies skipped in single-task mode", err=True
        )
    outcome = _launch(graph, root, task, verbose, secrets)
    _print_outcome(outcome, verbose)


def _pit_tasks(graph: Any) -> dict[str, tuple[str, ...]]:
    """The graph's pit tasks (not its outputs, not the dbt nodes of a dbt task) and their dependencies."""
    from trakt_dagster.core.graph import TaskRole

    tasks = {t.key: t.deps for t in graph.tasks if t.role != TaskRole.OUTPUT and "::" not in t.key}
    return {key: tuple(d for d in deps if d in tasks) for key, deps in tasks.items()}


def _launch(graph: Any, root: Path, task: str, verbose: bool, secrets: str | None) -> Any:
    from trakt_dagster.core.builder import build_graph_definitions
    from trakt_dagster.core.definitions import default_runs_dir
    from trakt_dagster.core.launch import launch_job
    from trakt_dagster.core.resources import RunStorage
    from trakt_dagster.pit.cli_output import TaskEcho, task_levels
    from trakt_dagster.pit.runtime import SECRETS_RESOURCE_KEY
    from trakt_dagster.pit.task_log import echo_task_output

    runs_dir = default_runs_dir(root)
    defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=runs_dir))
    run_config: dict[str, Any] = {}
    if secrets:
        path = str(Path(secrets).expanduser().resolve())
        run_config["resources"] = {SECRETS_RESOURCE_KEY: {"config": {"path": path}}}
    prefixed: set[str] = set()
    if not task:  # pit prefixes the lines of a task that runs in a level with others
        levels = task_levels(_pit_tasks(graph))
        prefixed = {name for name, level in levels.items() if list(levels.values()).count(level) > 1}
    stdout = getattr(sys.stdout, "buffer", None)
    echo = TaskEcho(stdout, prefixed) if verbose and stdout is not None else None
    launch = functools.partial(
        launch_job,
        defs,
        graph,
        runs_dir=runs_dir,
        select=[task] if task else (),
        run_config=run_config,
        log_level="DEBUG" if verbose else "CRITICAL",
    )
    if echo is None:  # pit prints nothing until its summary; on a terminal, a live progress line meanwhile
        from trakt_dagster.core.progress import command_progress

        with command_progress(enabled=not verbose, own_output=True):
            return launch()
    with echo_task_output(echo):
        try:
            return launch()
        finally:
            echo.flush()


def _print_outcome(outcome: Any, verbose: bool) -> None:
    from trakt_dagster.pit.cli_output import run_summary

    report = (outcome.manifest or {}).get("pit")
    if report and report.get("tasks") is not None:
        click.echo(run_summary(report), nl=False)
    if verbose:
        click.echo(f"Dagster run {outcome.run_id}, run folder {outcome.manifest_path.parent}", err=True)
    if outcome.success and (report or {}).get("status") != "failed":
        sys.exit(0)
    error = (outcome.manifest or {}).get("error") or {}
    if error and not any(state.get("error") for state in ((report or {}).get("tasks") or {}).values()):
        # the run failed before any task could (a trigger's files, the secrets file): say why, concisely
        click.echo(error.get("message") or error.get("type") or "", err=True)
    _fail(summary="run failed")


# -- logs -------------------------------------------------------------------------------------------------------


@pit_group.command("logs")
@click.argument("target", metavar="DAG[/TASK]")
@_global_options
@click.option("--list", "list_runs", is_flag=True, help="List the DAG's runs instead of printing a log.")
@click.option("--run-id", default=None, help="pit run id (or Dagster run id); default: the newest run.")
def logs_command(
    target: str, root: Path, verbose: bool, secrets: str | None, list_runs: bool, run_id: str | None
) -> None:
    """Print the task logs of a DAG's newest run (or --run-id), one task's with DAG/TASK, or list its runs."""
    from trakt_dagster.pit.cli_output import parse_run_arg, runs_table
    from trakt_dagster.pit.gofmt import go_quote
    from trakt_dagster.pit.run_history import dag_of_run_id, pit_runs

    try:
        dag, task = parse_run_arg(target)
    except ValueError as exc:
        _fail(summary=str(exc))
    runs = pit_runs(root, dag)
    if list_runs:
        click.echo(runs_table(dag, [(r.run_id, r.started) for r in runs]), nl=False)
        return
    if run_id:
        chosen = [r for r in runs if run_id in (r.run_id, r.dagster_run_id)]
        if not chosen:
            try:
                owner = dag_of_run_id(run_id)
            except ValueError as exc:
                _fail(summary=str(exc))
            if owner != dag:
                _fail(summary=f"run {go_quote(run_id)} belongs to DAG {go_quote(owner)}, not {go_quote(dag)}")
            _fail(summary=f"no run {go_quote(run_id)} of DAG {go_quote(dag)}")
        runs = chosen
    if not runs:
        click.echo(runs_table(dag, []), nl=False)
        return
    record = runs[0]
    logs_dir = record.folder / "logs"
    out = click.get_binary_stream("stdout")
    if task:
        state = (record.report.get("tasks") or {}).get(task) or {}
        path = Path(state.get("log") or logs_dir / f"{task}.log")
        try:
            data = path.read_bytes()
        except OSError:
            _fail(summary=f"no log file for task {go_quote(task)}")
        out.write(data)
        out.flush()
        return
    try:
        files = sorted(p for p in logs_dir.iterdir() if p.is_file() and p.name.endswith(".log"))
    except OSError as exc:
        _fail(summary=f"reading log directory: {exc.strerror or exc}: {logs_dir}")
    for path in files:
        data = path.read_bytes()
        out.write(f"── {record.task_of_log(path)} ──\n".encode())
        out.write(data)
        if data and not data.endswith(b"\n"):
            out.write(b"\n")
    out.flush()


# -- outputs, status --------------------------------------------------------------------------------------------


@pit_group.command("outputs")
@_global_options
@click.option("--project", default=None, help="Only this DAG.")
@click.option("--type", "kind", default=None, help="Only outputs of this type (e.g. table, file, email).")
@click.option("--location", default=None, help="Only locations matching this glob (Go filepath.Match).")
def outputs_command(
    root: Path, verbose: bool, secrets: str | None, project: str | None, kind: str | None, location: str | None
) -> None:
    """List the [[outputs]] the projects' pit.toml files declare (pit's table)."""
    from trakt_dagster.pit.cli_output import error_lines, outputs_table
    from trakt_dagster.pit.gomatch import go_path_match
    from trakt_dagster.pit.loader import find_project_files, read_project

    # pit lists what every pit.toml declares, valid or not; only a file that cannot be read fails the command
    rows, errors = [], []
    for path in find_project_files(root):
        parsed, problems = read_project(path)
        if parsed is None:
            errors.extend(e.for_pipeline(path.parent.name) for e in problems.errors)
            continue
        if project and parsed.name != project:
            continue
        for output in parsed.outputs:
            if kind and output.type != kind:
                continue
            if location and not go_path_match(location, output.location):
                continue
            rows.append((parsed.name, output.name, output.type, output.location))
    if errors:
        _fail(error_lines(errors), f"{len(errors)} pit.toml file(s) cannot be read")
    click.echo(outputs_table(rows), nl=False)


@pit_group.command("status")
@_global_options
def status_command(root: Path, verbose: bool, secrets: str | None) -> None:
    """The newest run of each DAG: start, status and duration (pit's table)."""
    from trakt_dagster.pit.cli_output import status_table
    from trakt_dagster.pit.run_history import latest_per_dag

    rows = [(r.dag, r.started, r.status, r.seconds) for r in latest_per_dag(root)]
    click.echo(status_table(rows), nl=False)


# -- init, new, compile -----------------------------------------------------------------------------------------

MODEL_ERROR_PREFIX = "transform models: "
TYPE_HELP = "Project type: python (default), sql, shell, dbt or transform."


@pit_group.command("init")
@click.argument("name")
@click.option("--type", "kind", default="python", show_default=True, help=TYPE_HELP)
@_global_options
def init_command(name: str, kind: str, root: Path, verbose: bool, secrets: str | None) -> None:
    """Create projects/NAME/ with a pit.toml and sample tasks."""
    from trakt_dagster.pit.scaffold import scaffold_project

    try:
        scaffold_project(root, name, kind)
    except (OSError, ValueError) as exc:
        _fail(summary=str(exc))
    click.echo(f'Created {kind} project "{name}" in projects/{name}/')
    click.echo("\nNext steps:")
    click.echo(f"  1. Edit projects/{name}/pit.toml to configure your DAG")
    click.echo(
        f"  2. Add {'models' if kind == 'transform' else 'task scripts'} to projects/{name}/"
        f"{'models' if kind == 'transform' else 'tasks'}/"
    )
    click.echo("  3. Run `trakt-dagster pit validate` to check your configuration")


@pit_group.command("new")
@click.argument("name")
@click.option("--type", "kind", default="python", show_default=True, help="Sample project type: " + TYPE_HELP[14:])
@_global_options
def new_command(name: str, kind: str, root: Path, verbose: bool, secrets: str | None) -> None:
    """Create a new workspace NAME/ (config, README, definitions.py, a sample project, a git repository)."""
    from trakt_dagster.pit.scaffold import SAMPLE_PROJECT, scaffold_workspace

    try:
        scaffold_workspace(root, name, kind)
    except (OSError, ValueError) as exc:
        _fail(summary=str(exc))
    click.echo(f'Created workspace "{name}" with a {kind} sample project.\n')
    click.echo("Next steps:")
    click.echo(f"  cd {Path(root) / name if str(root) != '.' else name}")
    click.echo("  trakt-dagster pit validate")
    click.echo(f"  trakt-dagster pit run {SAMPLE_PROJECT}")


@pit_group.command("compile")
@click.argument("dag")
@click.option("--stored-procedure", is_flag=True, help="Also write the pipeline as one SQL stored procedure.")
@_global_options
def compile_command(dag: str, stored_procedure: bool, root: Path, verbose: bool, secrets: str | None) -> None:
    """Compile a transform project's models into compiled_models/ without running them."""
    from trakt_dagster.core.atomic import atomic_write_text
    from trakt_dagster.core.errors import errors_of
    from trakt_dagster.pit.cli_output import error_lines
    from trakt_dagster.pit.frontend import load_projects
    from trakt_dagster.pit.gofmt import go_quote
    from trakt_dagster.pit.transform import COMPILED_DIR, TransformError, compile_models

    with _secrets_file(secrets):
        _, projects, result = load_projects(root)
    project = next((p for p in projects if p.name == dag), None)
    if project is None:
        own = errors_of(result.errors, dag)
        models = [e for e in own if e.message.startswith(MODEL_ERROR_PREFIX)]
        if models:  # pit finds these when it compiles (the others follow from the models that did not compile)
            details = error_lines(own, prefix="  ")
            _fail(details, f"compilation failed: {models[0].message[len(MODEL_ERROR_PREFIX) :]}")
        if own:
            _fail(error_lines(own, prefix="  "), f"validation failed with {len(own)} errors")
        _fail(summary=f"DAG {go_quote(dag)} not found")
    if not project.transform:
        _fail(summary=f"DAG {go_quote(dag)} is not a transform project (missing [dag.transform])")
    try:
        explicit = {task.name: task.depends_on for task in project.tasks}
        compiled = compile_models(project.folder, project.transform_dialect, explicit)
        out_dir = project.folder / COMPILED_DIR
        compiled.write(out_dir)
    except (TransformError, OSError) as exc:
        _fail(summary=f"compilation failed: {exc}")
    shown = Path(os.path.normpath(Path(root) / "projects" / project.folder.name / COMPILED_DIR))
    click.echo(f"Compiled {len(compiled.compiled)} models to {shown}")
    for model in compiled.compiled:
        click.echo(f"  {model.name} ({model.config.materialization})")
    if stored_procedure:
        name = f"pit_{dag}"
        try:
            text = compiled.stored_procedure(name, "dbo")
        except ValueError as exc:
            _fail(summary=f"generating stored procedure: {exc}")
        atomic_write_text(out_dir / f"{name}.sql", text)
        click.echo(f"Stored procedure written to {shown / (name + '.sql')}")


@pit_group.command("sync")
@_global_options
def sync_command(root: Path, verbose: bool, secrets: str | None) -> None:
    """pit's placeholder for syncing uv environments."""
    click.echo("sync: not yet implemented")


# -- serve ------------------------------------------------------------------------------------------------------


@pit_group.command("serve")
@_global_options
@click.option("--port", default=9090, show_default=True, help="Port of the webhook receiver (pit's HTTP port).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface for the receiver and the UI (pit listens on all interfaces: pass 0.0.0.0 for that).",
)
@click.option("--no-ui", is_flag=True, help="Run only the Dagster daemon, without the web UI.")
@click.option("--ui-port", default=3000, show_default=True, help="Port of the Dagster web UI.")
def serve_command(
    root: Path, verbose: bool, secrets: str | None, port: int, host: str, no_ui: bool, ui_port: int
) -> None:
    """Run pit's triggers on Dagster: the daemon (schedules, FTP watches, webhooks), the UI and the webhook
    receiver, until Ctrl-C or SIGTERM."""
    import logging

    from trakt_dagster.pit.serve import serve

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", stream=sys.stdout)
    status = serve(root, host=host, port=port, ui=not no_ui, ui_port=ui_port, secrets_file=secrets, verbose=verbose)
    sys.exit(status)
