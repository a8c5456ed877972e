"""`trakt-dagster`: list, validate and run pipelines through Dagster; tool-compatible sub-commands.

Example:
    ```
    trakt-dagster list                      # pipelines, assets, jobs, schedules under .
    trakt-dagster validate                  # every load error at once; exit 1 on any
    trakt-dagster run sales --select clean  # one run through Dagster; prints run id and manifest
    trakt-dagster trakt run --pipeline sales --input-dir data --output-dir out
    ```
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

# Everything heavier than click (Dagster, YAML, the tools' packages) is imported inside the command that
# uses it, and each tool's command group only when it is invoked, so `--help` and the sub-commands' help
# start in a fraction of a second.

ROOT_HELP = "Folder holding pipelines/ and projects/ (default: current folder)."

TOOL_GROUPS: dict[str, tuple[str, str]] = {
    "trakt": ("trakt_dagster.trakt.cli:trakt_group", "trakt's commands (run, validate, init) with trakt's flags."),
    "flowrun": (
        "trakt_dagster.flowrun.cli:flowrun_group",
        "flowrun's engine operations (validate, display, run, resume, report) on Dagster.",
    ),
    "pit": ("trakt_dagster.pit.cli:pit_group", "pit's commands for projects/<name>/pit.toml, run on Dagster."),
    "ductaflow": (
        "trakt_dagster.ductaflow.cli:ductaflow_group",
        "ductaflow projects (flows/, builds/, config/, conductor.py) on Dagster.",
    ),
    "loom": (
        "trakt_dagster.loom.cli:loom_group",
        "loom.etl pipelines (ETLPipeline classes) on Dagster: list, validate, run.",
    ),
}
"""Each tool's command group (`module:attribute`) and its one-line help (the group's docstring's first
paragraph, shown by `trakt-dagster --help` without importing the group; a test keeps the two equal)."""


class ToolGroups(click.Group):
    """A click group whose tools' sub-groups (`TOOL_GROUPS`) are imported only when one is invoked.

    Example:
        >>> # trakt-dagster --help   lists `pit` from TOOL_GROUPS; `trakt-dagster pit run x` imports pit's CLI
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *TOOL_GROUPS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in TOOL_GROUPS:
            import importlib

            module_name, attribute = TOOL_GROUPS[cmd_name][0].split(":")
            self.add_command(getattr(importlib.import_module(module_name), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's command list, with the short help of a tool group not imported yet from `TOOL_GROUPS`."""
        rows = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        for name in names:
            command = self.commands.get(name)
            if command is None:
                rows.append((name, click.Command(name, help=TOOL_GROUPS[name][1]).get_short_help_str(limit)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=ToolGroups, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trakt-dagster", message="%(prog)s %(version)s")
def main() -> None:
    """Run trakt, flowrun, ductaflow, loom.etl and pit pipelines on Dagster."""


def _print_errors(errors: list) -> None:  # noqa: ANN001 - LoadError list
    from trakt_dagster.core.errors import PipelineLoadErrors

    click.echo(PipelineLoadErrors(errors).render(), err=True)


@main.command("list")
@click.argument("root", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
def list_command(root: Path) -> None:
    """List pipelines with their tool, assets, job and schedules/sensors."""
    from trakt_dagster.core.builder import bind_graph, build_graph_definitions
    from trakt_dagster.core.definitions import default_runs_dir, load_graphs
    from trakt_dagster.core.names import dagster_name
    from trakt_dagster.core.resources import RunStorage
    from trakt_dagster.core.translator import DagsterTaskGraphTranslator, ExternalTranslatorData

    graphs, errors = load_graphs(root)
    translator = DagsterTaskGraphTranslator()
    run_storage = RunStorage(runs_dir=default_runs_dir(root))
    for graph in sorted(graphs, key=lambda g: g.name):
        binding = bind_graph(graph, translator)
        click.echo(f"{graph.name}  [{graph.tool}]  {graph.source_file}")
        click.echo(f"  job: {dagster_name(graph.name)}  (granularity: {graph.granularity})")
        for task in graph.tasks:
            if task.key in binding.asset_keys:
                click.echo(f"  asset: {binding.asset_keys[task.key].to_user_string()}  ({task.role} '{task.key_name}')")
        for dataset in graph.external:
            key = translator.get_external_key(ExternalTranslatorData(graph, dataset))
            click.echo(f"  external: {key.to_user_string()}")
        defs = build_graph_definitions(graph, run_storage=run_storage)
        for schedule in defs.schedules or ():
            tz = f" {schedule.execution_timezone}" if schedule.execution_timezone else ""
            click.echo(f"  schedule: {schedule.name}  {schedule.cron_schedule}{tz}")
        for sensor in defs.sensors or ():
            click.echo(f"  sensor: {sensor.name}  (every {sensor.minimum_interval_seconds}s)")
    if errors:
        _print_errors(errors)
        sys.exit(1)


@main.command("validate")
@click.argument("root", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--lenient", is_flag=True, help="trakt: accept unknown keys as trakt's lenient mode does.")
def validate_command(root: Path, lenient: bool) -> None:
    """Load every pipeline and print every warning and error (file, line, key, fix); exit 1 on any error."""
    from trakt_dagster.core.definitions import load_report

    report = load_report(root, strict=not lenient)
    graphs, errors = report.graphs, report.errors
    for warning in report.warnings:
        click.echo(f"warning: {warning.render()}", err=True)
    if errors:
        _print_errors(errors)
        sys.exit(1)
    click.echo(f"{len(graphs)} pipeline(s) valid: {', '.join(sorted(g.name for g in graphs)) or '(none)'}")


@main.command("run")
@click.argument("pipeline")
@click.option("--root", default=".", type=click.Path(file_okay=False, path_type=Path), help=ROOT_HELP)
@click.option(
    "--select",
    "select",
    multiple=True,
    help="Run only this task (repeatable); upstream tasks it needs run too.",
)
@click.option(
    "--granularity",
    type=click.Choice(["pipeline", "step"]),
    default=None,
    help="One op per pipeline or per task.",
)
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Run config YAML file.")
@click.option("--tag", "tags", multiple=True, help="Run tag KEY=VALUE (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors from the run log.")
@click.option("-v", "--verbose", is_flag=True, help="Dagster's whole run log instead of the progress lines.")
def run_command(
    pipeline: str,
    root: Path,
    select: tuple[str, ...],
    granularity: str | None,
    config_file: Path | None,
    tags: tuple[str, ...],
    quiet: bool,
    verbose: bool,
) -> None:
    """Run PIPELINE through Dagster (against $DAGSTER_HOME if set, else an ephemeral instance).

    Prints each task's start and end (one live line on a terminal, plain lines otherwise) and the run
    log's warnings and errors; `--verbose` prints Dagster's whole run log instead, `--quiet` only warnings
    and errors. A task is named as in the pipeline's file or as its Dagster asset name.
    """
    import yaml

    from trakt_dagster.core.builder import build_graph_definitions
    from trakt_dagster.core.definitions import default_runs_dir, load_graphs_for
    from trakt_dagster.core.errors import errors_of
    from trakt_dagster.core.graph import Granularity
    from trakt_dagster.core.launch import launch_job
    from trakt_dagster.core.names import dagster_name
    from trakt_dagster.core.resources import RunStorage

    graphs, errors = load_graphs_for(root, pipeline, granularity=granularity)
    graph = next((g for g in graphs if pipeline in (g.name, dagster_name(g.name))), None)
    if graph is None:
        own = errors_of(errors, pipeline)
        if own:
            _print_errors(own)
            click.echo(f"Error: pipeline '{pipeline}' did not load (see above); nothing was run.", err=True)
            sys.exit(1)
        if errors:
            _print_errors(errors)
        known = ", ".join(sorted(g.name for g in graphs)) or "(none)"
        click.echo(f"Error: no pipeline '{pipeline}' under {root.resolve()}. Pipelines: {known}", err=True)
        sys.exit(1)
    if errors:
        click.echo(
            f"warning: {len(errors)} other pipeline(s) failed to load; see 'trakt-dagster validate'.",
            err=True,
        )
    run_config = {}
    if config_file is not None:
        try:
            run_config = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            click.echo(f"Error: cannot read run config {config_file}: {exc}", err=True)
            sys.exit(1)
    parsed_tags = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep or not key:
            click.echo(f"Error: invalid tag '{item}'. Expected KEY=VALUE.", err=True)
            sys.exit(1)
        parsed_tags[key] = value
    runs_dir = default_runs_dir(root)
    defs = build_graph_definitions(
        graph,
        run_storage=RunStorage(runs_dir=runs_dir),
        granularity=Granularity(granularity) if granularity else None,
    )
    try:
        outcome = launch_job(
            defs,
            graph,
            runs_dir=runs_dir,
            select=select,
            run_config=run_config,
            tags=parsed_tags,
            log_level="INFO" if verbose and not quiet else "WARNING",
            progress=not quiet and not verbose,
        )
    except KeyError as exc:
        click.echo(f"Error: {exc.args[0]}", err=True)
        sys.exit(1)
    click.echo(f"run id: {outcome.run_id}")
    click.echo(f"status: {outcome.status}")
    click.echo(f"manifest: {outcome.manifest_path}")
    if not outcome.success and outcome.manifest and outcome.manifest.get("error"):
        error = outcome.manifest["error"]
        click.echo(f"error: {error['type']}: {error['message']}", err=True)
    sys.exit(0 if outcome.success else 1)


@main.command(
    "exec",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("-m", "module", default=None, metavar="MODULE", help="Run a module as `python -m MODULE` does.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def exec_command(module: str | None, args: tuple[str, ...]) -> None:
    """Run a Python script (or `-m MODULE`) as `python` would, with `import trakt` available.

    Existing trakt scripts and trakt's own entry points run unchanged:
    `trakt-dagster exec run_python_dsl.py --input-dir in --output-dir out`,
    `trakt-dagster exec -m trakt.run_local --pipeline-file p/pipeline.yaml`. Their pipelines run through
    Dagster in this process. (`from flowrun import Pipeline` works too.)
    """
    from trakt_dagster.core.scripts import run_python
    from trakt_dagster.flowrun import compat_import as flowrun_compat
    from trakt_dagster.trakt import compat_import as trakt_compat

    if module is None and not args:
        raise click.UsageError("give a script (trakt-dagster exec script.py ARGS) or -m MODULE.")
    target, rest = (module, args) if module is not None else (args[0], args[1:])
    run_python(target, rest, module=module is not None, prepare=(trakt_compat.install, flowrun_compat.install))


@main.command("init")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["trakt", "flowrun", "pit", "ductaflow", "loom"]),
    default="trakt",
    show_default=True,
    help="The tool of the new pipeline.",
)
@click.option("--root", default=".", type=click.Path(file_okay=False, path_type=Path), help=ROOT_HELP)
@click.argument("name")
def init_command(kind: str, root: Path, name: str) -> None:
    """Scaffold pipeline NAME of a tool, with sample data, ready to load and materialize."""
    from trakt_dagster.scaffold import scaffold

    try:
        created = scaffold(kind, root, name)
    except (FileExistsError, ValueError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Created {kind} pipeline '{name}' in {created}")
    click.echo(f"Next: 'trakt-dagster list {root}' shows its job; 'trakt-dagster run JOB --root {root}' runs it.")


if __name__ == "__main__":
    main()
