"""trakt's own metadata keys, as typed Dagster metadata sets.

trakt-dagster's shared keys also live under `trakt/` (`core.metadata.TaskMetadataSet`: tool, pipeline,
task, defined_at, ...); the fields below are trakt's own and never repeat them. Materialization-time keys
(`TraktRunMetadataSet`) have names no definition-time key uses.

Example:
    >>> dict(TraktOutputMetadataSet(dataset="totals", from_artifact="sums", uri="totals.csv"))
    {'trakt/dataset': 'totals', 'trakt/from_artifact': 'sums', 'trakt/uri': 'totals.csv'}
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet

from trakt_dagster.core.metadata import json_list as json_list


class TraktStepMetadataSet(NamespacedMetadataSet):
    """Definition-time metadata of a step's asset: its `id`, what it `uses`, its position and the
    artifacts it produces."""

    step_id: str | None = None
    uses: str | None = None
    position: int | None = None
    produces: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "trakt"


class TraktOutputMetadataSet(NamespacedMetadataSet):
    """Definition-time metadata of an output dataset: its name, the artifact it is written `from`, its uri."""

    dataset: str | None = None
    from_artifact: str | None = None
    uri: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "trakt"


class TraktInputMetadataSet(NamespacedMetadataSet):
    """Metadata of an input's external asset: its name, file pattern and combine strategy."""

    input: str | None = None
    pattern: str | None = None
    combine_strategy: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "trakt"


class TraktRunMetadataSet(NamespacedMetadataSet):
    """Materialization-time metadata of a step (rows read and written, duration); outputs report
    `path`, `dagster/row_count` and `dagster/column_schema`."""

    rows_in: int | None = None
    rows_out: int | None = None
    duration_ms: float | None = None
    outputs: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "trakt"
