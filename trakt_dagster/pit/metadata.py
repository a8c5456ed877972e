"""pit's own metadata keys (namespace `pit`), as typed Dagster metadata sets.

The shared keys (tool, DAG name as `trakt/pipeline`, task name as `trakt/task`, retries, timeout, retry
delay) are `core.metadata.TaskMetadataSet`'s and are not repeated here.

Example:
    >>> dict(PitTaskMetadataSet(kind="python", script="tasks/fetch.py"))
    {'pit/kind': 'python', 'pit/script': 'tasks/fetch.py'}
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet

from trakt_dagster.core.metadata import json_list as json_list


class PitTaskMetadataSet(NamespacedMetadataSet):
    """Definition-time metadata of a pit task's asset, as `pit.toml` says it.

    Args:
        kind: what runs it (`python`, `bash`, `sql`, `dbt`, `custom`, `load`, `save`).
        depends_on: the task's `depends_on` as written.
        script, runner, type, table, source, output, mode, connection: the task's keys as written.
        task: the pit task running this asset where that differs from `trakt/task` (a dbt node's task).
        model, model_file, materialization, relation, sql, strategy, unique_key: a transform model's settings
            and compiled SQL.
    """

    kind: str | None = None
    depends_on: dg.JsonMetadataValue | None = None
    script: str | None = None
    runner: str | None = None
    type: str | None = None
    table: str | None = None
    source: str | None = None
    output: str | None = None
    mode: str | None = None
    connection: str | None = None
    task: str | None = None
    model: str | None = None
    model_file: str | None = None
    materialization: str | None = None
    relation: str | None = None
    sql: str | None = None
    strategy: str | None = None
    unique_key: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "pit"


class PitOutputMetadataSet(NamespacedMetadataSet):
    """Metadata of an `[[outputs]]` asset (the same, as written, when a run records it).

    Args:
        output: the output's name; type, location, recipients: its keys as written.
    """

    output: str | None = None
    type: str | None = None
    location: str | None = None
    recipients: str | dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "pit"


class PitDagMetadataSet(NamespacedMetadataSet):
    """Metadata of a DAG (its graph): the `pit.toml`, schedule, overlap policy and event triggers."""

    pit_toml: str | None = None
    schedule: str | None = None
    overlap: str | None = None
    triggers: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "pit"


class PitRunMetadataSet(NamespacedMetadataSet):
    """Materialization-time metadata of a pit task (none of these names is a definition-time key).

    Args:
        run_id: pit's run id; attempt, max_attempts: the attempt that succeeded, of how many; log: the task's log file;
        rows_affected: rows a SQL task changed; sql_stub: whether SQL ran in stub mode;
        trigger: what started the run; ftp_files: the files an FTP watch found.
    """

    run_id: str | None = None
    attempt: int | None = None
    max_attempts: int | None = None
    log: str | None = None
    rows_affected: int | None = None
    sql_stub: bool | None = None
    trigger: str | None = None
    ftp_files: dg.JsonMetadataValue | None = None

    @classmethod
    def namespace(cls) -> str:
        return "pit"


class PitDbtMetadataSet(NamespacedMetadataSet):
    """A pit dbt task's dbt nodes (namespace `dbt`): what the dbt manifest says of a model's asset, and
    what `dbt run`/`dbt build` reported for it (rows through Dagster's `dagster/row_count`).

    Args:
        unique_id, materialized: the node's id and materialization (on the asset, repeated by its runs);
        status, execution_time_s: the node's result in a run; failures: a test's failing rows;
        nodes: how many nodes the pit task's dbt command reported.

    Example:
        >>> dict(PitDbtMetadataSet(unique_id="model.shop.stg_orders", status="success"))
        {'dbt/unique_id': 'model.shop.stg_orders', 'dbt/status': 'success'}
    """

    unique_id: str | None = None
    materialized: str | None = None
    status: str | None = None
    execution_time_s: float | None = None
    failures: int | None = None
    nodes: int | None = None

    @classmethod
    def namespace(cls) -> str:
        return "dbt"
