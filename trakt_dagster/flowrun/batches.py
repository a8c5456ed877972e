"""flowrun's `run_many` micro-batches as a Dagster sensor: one run per batch, its metadata as run tags.

A module names its batch source `flowrun_batches` (a function returning a sync or async iterable of
`RunContext`s, metadata mappings or None). Each sensor tick calls it and requests one run per batch, in
the source's order, tagged with the batch's metadata (`trakt/metadata` + `trakt/<key>`); the run key is the
DAG name plus the metadata, so a batch already launched is never launched again. The `RunContext`'s deps
do not travel with the run request: each run builds its own context from the module's context factory,
which receives the batch metadata. Runs are independent, so one failing batch does not stop the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterable, Mapping
from typing import Any

import dagster as dg
from flowrun import RunContext

from trakt_dagster.core.builder import BuildContext
from trakt_dagster.flowrun.model import FlowrunDag
from trakt_dagster.flowrun.runtime import call_with_known, metadata_tags


def batch_metadata(item: Any) -> dict[str, Any]:
    """The metadata of one batch item (a `RunContext`, a mapping, or None).

    Example:
        >>> batch_metadata(RunContext(None, {"n": 2})), batch_metadata({"n": 3}), batch_metadata(None)
        ({'n': 2}, {'n': 3}, {})
    """
    if item is None:
        return {}
    if isinstance(item, RunContext):
        return dict(item.metadata)
    if isinstance(item, Mapping):
        return dict(item)
    raise TypeError(f"a batch must be a RunContext, a metadata mapping or None, not {type(item).__name__}")


def collect_batches(source: Any, dag_name: str) -> list[dict[str, Any]]:
    """Call the batch source and return every batch's metadata, in order (async iterables included)."""
    produced = call_with_known(source, {"dag": dag_name})
    if isinstance(produced, AsyncIterable):

        async def gather() -> list[Any]:
            return [item async for item in produced]

        items = asyncio.run(gather())
    else:
        items = list(produced or [])
    return [batch_metadata(item) for item in items]


def batch_run_key(dag_name: str, metadata: Mapping[str, Any]) -> str:
    """The sensor's run key of a batch: DAG name and a digest of its metadata.

    Example:
        >>> batch_run_key("events", {"batch_id": "b1"}) == batch_run_key("events", {"batch_id": "b1"})
        True
    """
    text = json.dumps(dict(metadata), sort_keys=True, default=str)
    return f"{dag_name}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def batch_definitions(dag: FlowrunDag, ctx: BuildContext) -> dg.Definitions:
    """The sensor of a DAG whose module names a batch source (`extra_definitions` of its graph)."""
    source = dag.batches

    @dg.sensor(
        name=f"{ctx.pipeline_name}_batches",
        job=ctx.job,
        minimum_interval_seconds=dag.batch_interval_s,
        description=f"flowrun run_many: one run of '{dag.name}' per batch of {dag.module_path.name}'s flowrun_batches",
    )
    def batches_sensor(context: dg.SensorEvaluationContext):  # noqa: ANN202 - a sensor body
        if dag.namespace is not None:
            with dag.namespace.active():
                found = collect_batches(source, dag.name)
        else:
            found = collect_batches(source, dag.name)
        if not found:
            return dg.SkipReason(f"flowrun_batches of {dag.module_path.name} returned no batch")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=batch_run_key(dag.name, metadata), tags=metadata_tags(metadata))
                for metadata in found
            ]
        )

    return dg.Definitions(sensors=[batches_sensor])
