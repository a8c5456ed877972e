"""ductaflow's metadata vocabulary (namespace `ductaflow`), as typed Dagster metadata sets.

The shared keys (tool, pipeline, task, `defined_at`, code references) are `core.metadata.TaskMetadataSet`'s
and are not repeated here; definition-time and materialization-time names never coincide (a test checks
that every `ductaflow/` key the adapter writes is a field of one of these sets).

Example:
    >>> dict(DuctaflowNotebookMetadataSet(project="demand", kind="flow"))
    {'ductaflow/project': 'demand', 'ductaflow/kind': 'flow'}
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet


class DuctaflowNotebookMetadataSet(NamespacedMetadataSet):
    """Definition-time metadata of a notebook's asset (and of its config asset: project, notebook)."""

    project: str | None = None
    notebook: str | None = None
    kind: str | None = None
    config_file: str | None = None
    partitioned_by: str | None = None
    instances: int | None = None
    cell_timeout_s: float | None = None

    @classmethod
    def namespace(cls) -> str:
        return "ductaflow"


class DuctaflowRunMetadataSet(NamespacedMetadataSet):
    """Materialization-time metadata of one instance (partition) or of a range run."""

    status: str | None = None
    instance: str | None = None
    instance_dir: dg.PathMetadataValue | None = None
    scenario: dg.JsonMetadataValue | None = None
    attempts: int | None = None
    duration_s: float | None = None
    error: str | None = None
    executed_notebook: dg.PathMetadataValue | None = None
    html: dg.PathMetadataValue | None = None
    config: dg.PathMetadataValue | None = None
    execution_output: dg.PathMetadataValue | None = None
    html_error: str | None = None
    marked_lines: dg.JsonMetadataValue | None = None
    flows: dg.JsonMetadataValue | None = None
    via_build: str | None = None
    instance_statuses: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "ductaflow"
