"""loom.etl's metadata vocabulary (namespace `loom`), as typed Dagster metadata sets.

The shared keys (tool, pipeline, the step as `trakt/task`, `defined_at`, code references) are
`core.metadata.TaskMetadataSet`'s and are not repeated here; tables also carry `dagster/table_name`.
Definition-time and materialization-time names never coincide (a test checks that every `loom/` key the
adapter writes is a field of one of these sets).

Example:
    >>> dict(LoomStepMetadataSet(process="Ingest", write_mode="replace"))
    {'loom/process': 'Ingest', 'loom/write_mode': 'replace'}
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet


class LoomStepMetadataSet(NamespacedMetadataSet):
    """Definition-time metadata of a step's asset (the dataset it writes) and of an external dataset
    (`source`: a dataset read but written by no pipeline)."""

    process: str | None = None
    class_name: str | None = None
    sources: dg.JsonMetadataValue | None = None
    target: str | None = None
    source: str | None = None
    write_mode: str | None = None
    temp_scope: str | None = None
    location: str | None = None
    parallel_group: int | None = None
    streaming: bool | None = None

    @classmethod
    def namespace(cls) -> str:
        return "loom"


class LoomPipelineMetadataSet(NamespacedMetadataSet):
    """Metadata of a pipeline (its graph): the class, module and runner config it was read from."""

    pipeline: str | None = None
    module: str | None = None
    config: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "loom"


class LoomRunMetadataSet(NamespacedMetadataSet):
    """Materialization-time metadata of a step's run."""

    status: str | None = None
    run_id: str | None = None
    step_run_id: str | None = None
    correlation_id: str | None = None
    attempt: int | None = None
    duration_ms: float | None = None
    delta_version: int | None = None
    target_error: str | None = None
    writers: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "loom"
