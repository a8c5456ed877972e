"""Find flowrun DAGs in the Python modules under `pipelines/` and turn them into task graphs.

Candidates are the modules whose source mentions `flowrun` (`core.pymodules`: `pipelines/*.py` and
`pipelines/<folder>/*.py`, each folder in its own module namespace; a folder with `__init__.py` is imported as
a package, all its modules). Before they are imported, `from flowrun import Pipeline` is made to work on
flowrun-dag 1.0.0 (`compat_import`). A folder's `flowrun_settings.py` supplies `flowrun_*` settings (the
context factory above all) to the modules that have none of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.core.errors import LoadError, SourceLocation, unexpected_error
from trakt_dagster.core.pymodules import import_pipeline_module, import_pipeline_modules, is_file
from trakt_dagster.flowrun import compat_import

if TYPE_CHECKING:
    from trakt_dagster.flowrun.model import FlowrunDag

MARKERS = ("flowrun",)
TOOL = "flowrun"


def load_dags(root: Path, only: frozenset[str] | None = None) -> tuple[list[FlowrunDag], FrontEndResult]:
    """Every flowrun DAG under `root` (and every load error), before translation.

    Two DAGs of different modules with the same name are both reported and both left out (neither wins).
    With `only`, modules whose source mentions none of those names are not imported.
    """
    compat_import.install()
    result = FrontEndResult()
    dags: list[FlowrunDag] = []
    candidates = import_pipeline_modules(root, MARKERS, mentions=only)
    if not candidates:
        return dags, result  # no module mentions flowrun: the reader's modules stay unimported
    from trakt_dagster.flowrun.loader import (
        SETTINGS_FILE,
        improve_import_error,
        load_module_dags,
        object_owners,
        settings_file_of,
    )

    seen: set[int] = set()
    modules = []
    for found in candidates:
        if found.error is not None:
            result.errors.append(improve_import_error(found.error, found.path))
        elif found.path.name != SETTINGS_FILE:
            modules.append(found)
    places = [settings_file_of(found) for found in modules]  # each module's settings file, looked up once
    settings = {}
    for where in places:
        if where not in settings:
            settings[where] = import_pipeline_module(where) if is_file(where) else None
    try:
        owners = object_owners(modules)
    except Exception:  # noqa: BLE001 - odd objects are reported per module below
        owners = None
    for found, where in zip(modules, places, strict=True):
        try:
            shared = settings[where]
            found_dags, errors = load_module_dags(found, seen, owners=owners, settings_module=shared)
        except Exception as exc:  # noqa: BLE001 - a module's odd objects must not stop the other modules
            result.errors.append(unexpected_error(found.path, exc, TOOL))
            continue
        dags.extend(found_dags)
        result.errors.extend(errors)
    dags, clashes = _unique_names(dags)
    result.errors.extend(clashes)
    return dags, result


def _unique_names(dags: list[FlowrunDag]) -> tuple[list[FlowrunDag], list[LoadError]]:
    by_name: dict[str, list[FlowrunDag]] = {}
    for dag in dags:
        by_name.setdefault(dag.name, []).append(dag)
    errors = []
    for name, same in by_name.items():
        if len(same) < 2:
            continue
        for dag in same:
            others = ", ".join(f"{o.module_path}:{o.line or ''} ({o.attribute})" for o in same if o is not dag)
            errors.append(
                LoadError(
                    f"DAG '{name}' ({dag.attribute}) is also defined in {others}: neither is loaded.",
                    SourceLocation(dag.module_path, dag.line, f"dag '{name}'"),
                    "DAG names become Dagster job names and must be unique: rename one",
                    TOOL,
                    pipeline=name,
                )
            )
    return [dag for dag in dags if len(by_name[dag.name]) == 1], errors


def load(root: Path, options: LoadOptions) -> FrontEndResult:
    """Load every flowrun DAG under `root`; errors of all of them are returned together."""
    dags, result = load_dags(root, options.only)
    if dags:
        from trakt_dagster.flowrun.translate import build_flowrun_graph
    for dag in dags:
        if not options.wants(dag.name):
            continue
        try:
            result.graphs.append(build_flowrun_graph(dag))
        except Exception as exc:  # noqa: BLE001 - only this DAG is out
            result.errors.append(unexpected_error(dag.module_path, exc, TOOL, pipeline=dag.name))
    return result
