"""trakt-dagster: run trakt, flowrun, ductaflow, loom.etl and pit pipelines on Dagster.

Example:
    ```python
    # definitions.py
    from pathlib import Path
    from trakt_dagster import build_definitions

    defs = build_definitions(Path(__file__).parent)   # pipelines/ and projects/ under this folder
    ```
"""

from trakt_dagster.components import PipelinesFolderComponent, TraktPipelineComponent
from trakt_dagster.core.definitions import build_definitions, load_graphs
from trakt_dagster.core.errors import LoadError, PipelineLoadErrors, SourceLocation
from trakt_dagster.core.graph import Granularity, Task, TaskGraph, TaskResult
from trakt_dagster.core.resources import RunStorage
from trakt_dagster.core.translator import DagsterTaskGraphTranslator, TaskTranslatorData

__all__ = [
    "DagsterTaskGraphTranslator",
    "Granularity",
    "LoadError",
    "PipelineLoadErrors",
    "PipelinesFolderComponent",
    "RunStorage",
    "SourceLocation",
    "Task",
    "TaskGraph",
    "TaskResult",
    "TaskTranslatorData",
    "TraktPipelineComponent",
    "build_definitions",
    "load_graphs",
]
