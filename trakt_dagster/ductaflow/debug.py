"""Prepare a debug folder for one instance without executing it (ductaflow's `debug_flow`, as a CLI action).

The folder gets `<flow>_config.json` (the instance's config, or the given file, without `_no_execute`, so a
later run from it executes), an unexecuted `<flow>_executed.ipynb` with the config injected, the instance's
extra files (a scenario's `config.json`) and `launch.json` for VS Code: it runs the flow as a script in that
folder with `--config <flow>_config.json`, with `ductaflow` importable.
"""

from __future__ import annotations

import json
from pathlib import Path

from trakt_dagster.core.definitions import default_runs_dir
from trakt_dagster.ductaflow.compat.ductaflow import launch_configuration
from trakt_dagster.ductaflow.compat.ductaflow._config import config_json
from trakt_dagster.ductaflow.compat.ductaflow._engine import NotebookRequest, NotebookResult, prepare_notebook
from trakt_dagster.ductaflow.compat.ductaflow._logfile import atomic_write
from trakt_dagster.ductaflow.frontend import load_projects
from trakt_dagster.ductaflow.runtime import kernel_pythonpath, work_root


def prepare_debug_folder(
    root: Path,
    name: str,
    *,
    instance: str | None = None,
    config_file: Path | None = None,
    folder: Path | None = None,
) -> NotebookResult:
    """Prepare (never execute) one instance of a flow or build; returns what was written.

    Example:
        >>> # prepare_debug_folder(Path("."), "prepare_demand", instance="default")
    """
    from trakt_dagster.ductaflow.launch import LaunchError

    project_name, _, short = name.rpartition("/")
    projects, _ = load_projects(root)
    found = [(p, n) for p in projects for n in p.notebooks if n.name == short and project_name in ("", p.name)]
    if len(found) != 1:
        known = ", ".join(f"{p.name}/{n.name}" for p in projects for n in p.notebooks) or "(none)"
        raise LaunchError(f"no single ductaflow flow or build '{name}'. Known: {known}")
    project, notebook = found[0]
    if instance is None:
        if len(notebook.instances) != 1:
            names = ", ".join(i.name for i in notebook.instances)
            raise LaunchError(
                f"{notebook.name} has {len(notebook.instances)} instances: choose one with --instance ({names})"
            )
        chosen = notebook.instances[0]
    else:
        chosen = next((i for i in notebook.instances if instance in (i.key, i.name)), None)
        if chosen is None:
            names = ", ".join(i.name for i in notebook.instances)
            raise LaunchError(f"{notebook.name} has no instance '{instance}'. Instances: {names}")
    config = dict(chosen.config)
    if config_file is not None:
        config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    config.pop("_no_execute", None)
    base = work_root(Path(default_runs_dir(Path(root))), project)
    target = Path(folder).resolve() if folder else base / "debug" / notebook.name / chosen.key
    for file_name, content in chosen.extra_files.items():
        atomic_write(target / file_name, config_json(dict(content)))
    pythonpath = kernel_pythonpath(project)
    result = prepare_notebook(
        NotebookRequest(
            source=notebook.path,
            execution_dir=target,
            config=config,
            project_root=project.folder,
            kernel_name=notebook.kernel_name,
            pythonpath=pythonpath,
            cwd=base,
        )
    )
    launch = launch_configuration(notebook.path, result.execution_dir, pythonpath=pythonpath)
    atomic_write(result.execution_dir / "launch.json", json.dumps(launch, indent=2) + "\n")
    return result
