"""trakt-dagster: run trakt, flowrun, ductaflow, loom.etl and pit pipelines on Dagster.

Example:
    ```python
    # definitions.py
    from pathlib import Path
    from trakt_dagster import build_definitions

    defs = build_definitions(Path(__file__).parent)   # pipelines/ and projects/ under this folder
    ```
"""

from trakt_dagster._lazy import lazy_exports

# Imported on first use (PEP 562), so `trakt-dagster --help` and other light entry points do not import
# Dagster: name -> the module that defines it.
_EXPORTS = {
    "DuctaflowComponent": "trakt_dagster.components",
    "FlowrunComponent": "trakt_dagster.components",
    "LoomPipelineComponent": "trakt_dagster.components",
    "PipelinesFolderComponent": "trakt_dagster.components",
    "PitProjectComponent": "trakt_dagster.components",
    "TraktPipelineComponent": "trakt_dagster.components",
    "build_definitions": "trakt_dagster.core.definitions",
    "load_graphs": "trakt_dagster.core.definitions",
    "LoadError": "trakt_dagster.core.errors",
    "PipelineLoadErrors": "trakt_dagster.core.errors",
    "SourceLocation": "trakt_dagster.core.errors",
    "Granularity": "trakt_dagster.core.graph",
    "Task": "trakt_dagster.core.graph",
    "TaskGraph": "trakt_dagster.core.graph",
    "TaskResult": "trakt_dagster.core.graph",
    "RunStorage": "trakt_dagster.core.resources",
    "DagsterTaskGraphTranslator": "trakt_dagster.core.translator",
    "TaskTranslatorData": "trakt_dagster.core.translator",
}


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)


__all__ = [
    "DagsterTaskGraphTranslator",
    "DuctaflowComponent",
    "FlowrunComponent",
    "Granularity",
    "LoadError",
    "LoomPipelineComponent",
    "PipelineLoadErrors",
    "PipelinesFolderComponent",
    "PitProjectComponent",
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
