"""Find ductaflow projects (`pipelines/<name>/` with `flows/` and `config/`) and turn them into task graphs.

Notebooks and conductors are read, never executed. Every error of every project is returned (file, line,
key, fix); the project's other flows and builds still load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.core.errors import LoadError, SourceLocation
from trakt_dagster.core.listing import subfolders
from trakt_dagster.core.pymodules import is_notebook_project

if TYPE_CHECKING:
    from trakt_dagster.ductaflow.model import DuctaflowProject
# ductaflow's reader and model are imported when there is a project to read: a root without one never
# imports them.


def find_projects(root: Path) -> list[Path]:
    """`<root>/pipelines/<name>/` folders holding `flows/` and `config/`, resolved and sorted.

    Example:
        >>> find_projects(Path("/nonexistent-root"))
        []
    """
    entries = subfolders(Path(root) / "pipelines")
    if entries is None:  # no pipelines/ folder (or not a folder, or unreadable): no project can be there
        return []
    folders = [Path(entry.path) for entry in entries]
    return sorted(folder.resolve() for folder in folders if is_notebook_project(folder))


def load_projects(root: Path, only: frozenset[str] | None = None) -> tuple[list[DuctaflowProject], FrontEndResult]:
    """Every readable project under `root`, with all errors and warnings (with `only`: just the projects whose
    graphs, named `<project>__<notebook>`, may carry one of those names)."""
    result = FrontEndResult()
    folders = find_projects(root)
    if not folders:
        return [], result
    from trakt_dagster.ductaflow.loader import read_project
    from trakt_dagster.ductaflow.model import TOOL

    projects = []
    for folder in folders:
        if only is not None and not any(name.startswith(folder.name) for name in only):
            continue
        try:
            project, problems = read_project(folder)
        except Exception as exc:  # noqa: BLE001 - a reader bug must not hide the other projects
            result.errors.append(
                LoadError(
                    f"cannot read the ductaflow project: {type(exc).__name__}: {exc}",
                    SourceLocation(folder),
                    None,
                    TOOL,
                )
            )
            continue
        result.errors.extend(problems.errors)
        result.warnings.extend(problems.warnings)
        if project is not None:
            projects.append(project)
    return projects, result


def load(root: Path, options: LoadOptions) -> FrontEndResult:
    """Load every ductaflow project under `root`: one graph per flow and build."""
    projects, result = load_projects(root, options.only)
    if not projects:
        return result
    from trakt_dagster.ductaflow.model import TOOL
    from trakt_dagster.ductaflow.translate import build_project_graphs

    for project in projects:
        try:
            result.graphs.extend(build_project_graphs(project))
        except Exception as exc:  # noqa: BLE001 - reported as a load error of the project, never raised
            result.errors.append(
                LoadError(
                    f"cannot build the ductaflow project '{project.name}': {type(exc).__name__}: {exc}",
                    SourceLocation(project.folder),
                    None,
                    TOOL,
                )
            )
    return result
