"""The sensor `<dag>_webhook`: turns each accepted webhook event of a DAG into exactly one run.

Each tick reads the DAG's pending events (oldest first) from the inbox of the instance the sensor runs in.
An event becomes a `RunRequest` whose run key is the event id (so it can never start two runs), tagged
`trakt/trigger=webhook` and `trakt/webhook_event=<id>`; with `overlap = "skip"` an event arriving while a
run of the DAG is queued or running (or requested earlier in the same tick) is recorded as skipped with the
reason; with `wait` the runs queue one at a time in arrival order.

Exactly once: the events requested by a tick are written into the sensor's cursor, which Dagster commits
together with the run requests. Only the next tick (which reads that committed cursor) moves them out of
`pending/`; if a tick fails before committing, the next one requests the same events again, and Dagster's
run-key check drops what was already launched.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from trakt_dagster.core.names import dagster_name
from trakt_dagster.core.triggers import default_status, overlap_skip_reason, overlap_tags
from trakt_dagster.pit.model import PitProject
from trakt_dagster.pit.webhook_inbox import WebhookInbox
from trakt_dagster.pit.webhook_stream import STREAM_TAG

EVENT_TAG = "trakt/webhook_event"
TRIGGER_TAG = "trakt/trigger"
WEBHOOK_INTERVAL_S = 1
"""Minimum seconds between two ticks of a webhook sensor: in effect every loop of Dagster's sensor daemon
(which starts a loop at most every 5 s), since a tick only lists a folder."""
MAX_EVENTS_PER_TICK = 500


def webhook_sensor_name(dag: str) -> str:
    """`<dag>_webhook`.

    Example:
        >>> webhook_sensor_name("sales")
        'sales_webhook'
    """
    return f"{dagster_name(dag)}_webhook"


def build_webhook_sensor(project: PitProject, job: Any) -> dg.SensorDefinition:
    """The webhook sensor of a pit DAG with `[dag.webhook]` (running by default: it only acts on events).

    Example:
        >>> # build_webhook_sensor(project, job).evaluate_tick(dg.build_sensor_context(instance=instance))
    """
    dag = project.name
    overlap = project.overlap_policy

    @dg.sensor(
        name=webhook_sensor_name(dag),
        job=job,
        minimum_interval_seconds=WEBHOOK_INTERVAL_S,
        default_status=default_status(True),
        description=f"pit webhook of '{dag}': one run per accepted POST /webhook/{dag} (overlap: {overlap})",
        tags={"trakt/pipeline": dagster_name(dag)},
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        inbox = WebhookInbox.for_instance_dir(context.instance.root_directory)
        previous = set(json.loads(context.cursor or "{}").get("requested", []))
        for event_id in sorted(previous):  # requested by a committed tick: done
            status = inbox.status(dag, event_id)
            if status is not None and status.get("status") == "queued":
                inbox.finish(dag, event_id, {"status": "requested"})
        requests: list[dg.RunRequest] = []
        skipped: list[str] = []
        blocked: str | None = None
        checked = False
        for event in inbox.pending(dag)[:MAX_EVENTS_PER_TICK]:
            if event.id in previous:
                continue
            if overlap == "skip" and blocked is None and (requests or not checked):
                blocked = overlap_skip_reason(context.instance, job.name, overlap, requested=len(requests))
                checked = True
            if blocked:
                inbox.finish(dag, event.id, {"status": "skipped", "reason": blocked})
                context.log.info(f"webhook event {event.id} of {dag} skipped: {blocked}")
                skipped.append(event.id)
                continue
            tags = {
                "trakt/pipeline": dagster_name(dag),
                TRIGGER_TAG: "webhook",
                EVENT_TAG: event.id,
                "trakt/webhook_received_at": event.received_at,
            }
            if event.stream:
                tags[STREAM_TAG] = str(inbox.stream_path(dag, event.id))
            requests.append(dg.RunRequest(run_key=event.id, tags=overlap_tags(overlap, tags)))
        cursor = json.dumps({"requested": sorted(r.run_key for r in requests if r.run_key)})
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        reason = f"{len(skipped)} webhook event(s) skipped: {blocked}" if skipped else "no webhook event waiting"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)

    return _sensor
