"""Find flowrun DAGs in the Python modules under `pipelines/` and turn them into task graphs.

Candidates are the modules whose source mentions `flowrun` (`core.pymodules`: `pipelines/*.py` and
`pipelines/<folder>/*.py`, each folder in its own module namespace). Before they are imported,
`from flowrun import Pipeline` is made to work on flowrun-dag 1.0.0 (`compat_import`).
"""

from __future__ import annotations

from pathlib import Path

from trakt_dagster.core.discovery import FrontEndResult, LoadOptions
from trakt_dagster.core.pymodules import import_pipeline_modules
from trakt_dagster.flowrun import compat_import
from trakt_dagster.flowrun.loader import improve_import_error, load_module_dags
from trakt_dagster.flowrun.model import FlowrunDag
from trakt_dagster.flowrun.translate import build_flowrun_graph

MARKERS = ("flowrun",)


def load_dags(root: Path) -> tuple[list[FlowrunDag], FrontEndResult]:
    """Every flowrun DAG under `root` (and every load error), before translation."""
    compat_import.install()
    result = FrontEndResult()
    dags: list[FlowrunDag] = []
    seen: set[int] = set()
    for found in import_pipeline_modules(root, MARKERS):
        if found.error is not None:
            result.errors.append(improve_import_error(found.error, found.path))
            continue
        found_dags, errors = load_module_dags(found, seen)
        dags.extend(found_dags)
        result.errors.extend(errors)
    return dags, result


def load(root: Path, options: LoadOptions) -> FrontEndResult:
    """Load every flowrun DAG under `root`; errors of all of them are returned together."""
    dags, result = load_dags(root)
    result.graphs.extend(build_flowrun_graph(dag) for dag in dags)
    return result
