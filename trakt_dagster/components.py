"""Dagster Components for `dg` projects: every pipeline of a folder, or one trakt pipeline.

Example:
    ```yaml
    # defs/pipelines/defs.yaml
    type: trakt_dagster.PipelinesFolderComponent
    attributes:
      root: "{{ context.project_root }}"     # the folder holding pipelines/ and projects/
    ```

    ```yaml
    # defs/sales/defs.yaml
    type: trakt_dagster.TraktPipelineComponent
    attributes:
      pipeline_path: pipeline.yaml           # relative to this defs.yaml
      granularity: step
    ```
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from trakt_dagster.core.builder import build_graph_definitions
from trakt_dagster.core.definitions import (
    build_definitions,
    default_runs_dir,
    load_error_definitions,
    strict_load_default,
)
from trakt_dagster.core.errors import PipelineLoadErrors
from trakt_dagster.core.graph import Granularity
from trakt_dagster.core.resources import RunStorage


class PipelinesFolderComponent(dg.Component, dg.Model, dg.Resolvable):
    """Every pipeline under a folder (`pipelines/`, `projects/`), as `build_definitions(root)` builds them."""

    root: str = Field(description="Folder holding pipelines/ and projects/, relative to this defs.yaml or absolute.")
    runs_dir: str | None = Field(default=None, description="Where run folders go (default: <root>/runs).")
    strict: bool = Field(default=True, description="trakt: reject unknown keys (false = trakt's lenient mode).")
    granularity: str | None = Field(default=None, description="'pipeline' or 'step' for every pipeline.")
    strict_load: bool | None = Field(
        default=None,
        description="Raise on any load error instead of showing broken pipelines as load-error assets "
        "(default: $TRAKT_DAGSTER_STRICT_LOAD, else false).",
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = (context.path / self.root).resolve()
        return build_definitions(
            root,
            runs_dir=self.runs_dir,
            strict=self.strict,
            granularity=self.granularity,
            strict_load=self.strict_load,
        )


class TraktPipelineComponent(dg.Component, dg.Model, dg.Resolvable):
    """One trakt `pipeline.yaml` as assets and a job."""

    pipeline_path: str = Field(default="pipeline.yaml", description="The pipeline file, relative to this defs.yaml.")
    runs_dir: str | None = Field(default=None, description="Where run folders go (default: runs/ beside the project).")
    strict: bool = Field(default=True, description="Reject unknown keys (false = trakt's lenient mode).")
    granularity: str | None = Field(default=None, description="'pipeline' (default) or 'step'.")
    strict_load: bool | None = Field(
        default=None,
        description="Raise on load errors instead of showing a load-error asset (default: "
        "$TRAKT_DAGSTER_STRICT_LOAD, else false).",
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from trakt_dagster.trakt.loader import load_pipeline_spec
        from trakt_dagster.trakt.translate import build_trakt_graph

        path = (context.path / self.pipeline_path).resolve()
        spec, errors = load_pipeline_spec(path, strict=self.strict)
        if errors:
            strict_load = strict_load_default() if self.strict_load is None else self.strict_load
            if strict_load:
                raise PipelineLoadErrors(errors)
            return load_error_definitions(errors)
        graph = build_trakt_graph(spec)
        runs_dir = self.runs_dir or default_runs_dir(Path(context.project_root))
        return build_graph_definitions(
            graph,
            run_storage=RunStorage(runs_dir=runs_dir),
            granularity=Granularity(self.granularity) if self.granularity else None,
        )
