"""Click-event micro-batches: every file in `inbox/` is one batch, run through the same flowrun DAG.

Written for flowrun-dag 1.0.0 (`build_default_engine`, a DAG scope, `run_many`). On Dagster the module's
`flowrun_batches` source feeds the sensor `event_batches_batches`: one run per batch file, the batch id
as the run's metadata (run tag `trakt/batch_id`); `flowrun_context` builds each run's context from it.

Run it natively with `python pipelines/event_batches/dag.py` (one `run_many` over the inbox).
"""

# No `from __future__ import annotations`: flowrun 1.0.0 finds RunContext parameters by annotation object.
import asyncio
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowrun import RunContext, build_default_engine

HERE = Path(__file__).resolve().parent
SESSION_GAP_S = 30 * 60

engine = build_default_engine(max_parallel=2)
events = engine.dag("event_batches")


@dataclass(frozen=True)
class Deps:
    inbox: Path
    out_dir: Path


def flowrun_context(metadata: dict[str, Any]) -> RunContext[Deps]:
    """One run's context: where batches are read and summaries written; `metadata["batch_id"]` names the batch."""
    return RunContext(Deps(inbox=HERE / "inbox", out_dir=HERE / "outputs"), metadata)


def flowrun_batches() -> list[RunContext[None]]:
    """The pending batches, oldest first (the sensor launches each batch id once)."""
    return [RunContext(None, {"batch_id": path.stem}) for path in sorted((HERE / "inbox").glob("*.jsonl"))]


flowrun_batch_interval_s = 30


@events.task()
def read_batch(context: RunContext[Deps]) -> list[dict[str, Any]]:
    """The batch's events (one JSON object per line; blank lines ignored)."""
    batch_id = context.metadata.get("batch_id")
    if not batch_id:
        raise ValueError(
            "no batch_id in the run's metadata: runs of event_batches come from the sensor event_batches_batches, "
            "or launch one with the run tag trakt/batch_id=<inbox file stem>"
        )
    path = context.inbox / f"{batch_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@events.task()
def sessionize(read_batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sessions per user: a gap of more than 30 minutes between two events starts a new session."""
    sessions: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    for event in sorted(read_batch, key=lambda e: (e["user"], e["ts"])):
        current = last.get(event["user"])
        if current is None or event["ts"] - current["end"] > SESSION_GAP_S:
            current = {"user": event["user"], "start": event["ts"], "end": event["ts"], "events": 0}
            sessions.append(current)
            last[event["user"]] = current
        current["end"] = event["ts"]
        current["events"] += 1
    return sessions


@events.task()
def count_by_page(read_batch: list[dict[str, Any]]) -> dict[str, int]:
    """Views per page."""
    return dict(sorted(Counter(e["page"] for e in read_batch).items()))


@events.task(deps=[sessionize, count_by_page])
def write_summary(context: RunContext[Deps], upstream: dict[str, Any]) -> dict[str, Any]:
    """outputs/<batch_id>.json with the batch's sessions and page views (replaced atomically)."""
    batch_id = context.metadata["batch_id"]
    summary = {
        "batch_id": batch_id,
        "sessions": len(upstream["sessionize"]),
        "users": len({s["user"] for s in upstream["sessionize"]}),
        "page_views": upstream["count_by_page"],
    }
    target = context.out_dir / f"{batch_id}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)
    return summary


async def main() -> None:
    async with engine:
        contexts = [flowrun_context(dict(batch.metadata)) for batch in flowrun_batches()]
        for run_id in await events.run_many(contexts):
            report = engine.get_run_report(run_id)
            print(report["metadata"]["batch_id"], report["status"], report["tasks"]["write_summary"]["result"])


if __name__ == "__main__":
    asyncio.run(main())
