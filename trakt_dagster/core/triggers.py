"""Triggers of a task graph as Dagster schedules and sensors, with the overlap policies every tool shares.

* `CronTrigger` → a schedule (5-field cron or `@daily`-style macro, in the trigger's time zone);
* `IntervalTrigger` → a sensor ticking every N seconds (pit's `@every 1h30m`);
* overlap `allow`: every tick launches a run; `skip`: no run while one of the job is queued or running
  (a `SkipReason` says which); `wait`: the run is launched with the tag `trakt/overlap=wait` and, when it
  starts, waits until every earlier run of the same job has finished, so runs execute one at a time in
  trigger order and none is dropped (`wait_for_earlier_runs`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import dagster as dg
from dagster._core.errors import ScheduleExecutionError, user_code_error_boundary

from trakt_dagster.core.graph import CronTrigger, IntervalTrigger, TaskGraph
from trakt_dagster.core.names import dagster_name

OVERLAP_TAG = "trakt/overlap"
ACTIVE_STATUSES = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
CRON_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@midnight": "0 0 * * *"}
"""Descriptors Dagster does not take, as the cron expressions they stand for (`@daily` etc. it takes)."""


def host_timezone() -> str:
    """The IANA name of this machine's local time zone (`$TZ`, `/etc/timezone`, `/etc/localtime`), else UTC.

    Example:
        >>> isinstance(host_timezone(), str)
        True
    """
    return _host_timezone(os.environ.get("TZ", ""))


@lru_cache(maxsize=8)
def _host_timezone(tz_variable: str) -> str:
    """`host_timezone` for a value of `$TZ` (the files it reads do not change while a process runs; a load
    asks once per schedule)."""
    candidates = [tz_variable.lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    target = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name and is_timezone(name):
            return name
    return "UTC"


def is_timezone(name: str) -> bool:
    """Whether `name` is a time zone Dagster can schedule in.

    Example:
        >>> is_timezone("Europe/Paris"), is_timezone("Mars/Olympus")
        (True, False)
    """
    if name in ("UTC", "Etc/UTC"):
        return True
    if name not in _known_timezones():
        return False
    try:
        ZoneInfo(name)
    except (KeyError, ValueError):
        return False
    return True


@cache
def _known_timezones() -> frozenset[str]:
    """The IANA names of the time zone database (read once per process: listing it walks its whole folder)."""
    return frozenset(available_timezones())


def active_run_ids(instance: dg.DagsterInstance, job_name: str, *, before: float | None = None) -> list[str]:
    """Ids of the job's runs that are queued or in progress (created before `before`, a timestamp, if given).

    Example:
        >>> # active_run_ids(context.instance, "sales") -> ["9f3c..."]
    """
    filters = dg.RunsFilter(job_name=job_name, statuses=list(ACTIVE_STATUSES))
    records = instance.get_run_records(filters=filters)
    return [
        record.dagster_run.run_id
        for record in records
        if before is None or record.create_timestamp.timestamp() < before
    ]


def wait_for_earlier_runs(
    instance: dg.DagsterInstance,
    job_name: str,
    run_id: str,
    log: Callable[[str], None],
    *,
    poll_s: float = 0.5,
) -> None:
    """Block until every run of `job_name` created before `run_id` has finished (overlap `wait`).

    Example:
        >>> # wait_for_earlier_runs(context.instance, context.job_name, context.run_id, context.log.info)
    """
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return
    created = record.create_timestamp.timestamp()
    announced: set[str] = set()
    while True:
        earlier = [rid for rid in active_run_ids(instance, job_name, before=created) if rid != run_id]
        if not earlier:
            return
        if set(earlier) - announced:
            waiting = ", ".join(earlier)
            log(f"overlap = wait: waiting for {len(earlier)} earlier run(s) of {job_name} to finish: {waiting}")
            announced.update(earlier)
        time.sleep(poll_s)


def overlap_skip_reason(instance: dg.DagsterInstance, job_name: str, overlap: str, *, requested: int = 0) -> str | None:
    """Why a trigger must not start a run now (overlap `skip` while a run of the job is queued or running,
    or already requested by this evaluation), else None.

    Example:
        >>> overlap_skip_reason(None, "sales", "allow") is None
        True
    """
    if overlap != "skip":
        return None
    if requested:
        return f"overlap = skip: this evaluation already requested a run of {job_name}"
    running = active_run_ids(instance, job_name)
    if running:
        return f"overlap = skip: a run of {job_name} is still active ({', '.join(running)})"
    return None


def overlap_tags(overlap: str, tags: dict[str, str]) -> dict[str, str]:
    """Run tags for a trigger's run: `tags` plus `trakt/overlap=wait` when the policy is `wait`.

    Example:
        >>> overlap_tags("wait", {"trakt/trigger": "webhook"})
        {'trakt/trigger': 'webhook', 'trakt/overlap': 'wait'}
    """
    run_tags = dict(tags)
    if overlap == "wait":
        run_tags[OVERLAP_TAG] = "wait"
    return run_tags


def default_status(running: bool) -> dg.DefaultSensorStatus:
    """`RUNNING` or `STOPPED` (Dagster's default) for a trigger's schedule or sensor."""
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def _request(context: Any, job_name: str, overlap: str, tags: dict[str, str]) -> dg.RunRequest | dg.SkipReason:
    reason = overlap_skip_reason(context.instance, job_name, overlap)
    if reason:
        return dg.SkipReason(reason)
    return dg.RunRequest(tags=overlap_tags(overlap, tags))


def build_schedule(graph: TaskGraph, trigger: CronTrigger, job: Any, name: str) -> dg.ScheduleDefinition:
    """A Dagster schedule for a cron trigger, honouring its overlap policy.

    Example:
        >>> # build_schedule(graph, CronTrigger("0 6 * * *", "Europe/Paris", overlap="skip"), job, "sales_schedule")
    """
    cron = CRON_MACROS.get(trigger.cron.strip(), trigger.cron.strip())
    tags = {"trakt/pipeline": dagster_name(graph.name), "trakt/trigger": "schedule"}
    overlap = trigger.overlap

    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        # the error boundary `@dg.schedule` puts around its function (same error and message); built as a
        # plain ScheduleDefinition, a load of many pipelines skips the decorator's signature inspection
        with user_code_error_boundary(
            ScheduleExecutionError, lambda: f"Error occurred during the evaluation of schedule {name}"
        ):
            return _request(context, job.name, overlap, tags)

    return dg.ScheduleDefinition(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_fn=_schedule,
        execution_timezone=trigger.timezone,
        default_status=dg.DefaultScheduleStatus(default_status(trigger.default_running).value),
        description=f"{graph.tool} schedule '{trigger.cron}' of '{graph.name}' (overlap: {overlap})",
        tags={"trakt/pipeline": dagster_name(graph.name)},
    )


def build_interval_sensor(graph: TaskGraph, trigger: IntervalTrigger, job: Any, name: str) -> dg.SensorDefinition:
    """A sensor that requests a run every `trigger.seconds` (pit's `@every <duration>`).

    Example:
        >>> # build_interval_sensor(graph, IntervalTrigger(5400), job, "sales_every")
    """
    tags = {"trakt/pipeline": dagster_name(graph.name), "trakt/trigger": "interval"}
    overlap = trigger.overlap
    seconds = max(1, round(trigger.seconds))

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=seconds,
        default_status=default_status(trigger.default_running),
        description=f"{graph.tool} schedule '{trigger.source or f'every {seconds}s'}' of '{graph.name}'",
    )
    def _sensor(context: dg.SensorEvaluationContext):  # noqa: ANN202 - a sensor body
        request = _request(context, job.name, overlap, tags)
        if isinstance(request, dg.SkipReason):
            return request
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        return dg.RunRequest(run_key=f"{name}:{stamp}", tags=request.tags)

    return _sensor


def trigger_schedules_and_sensors(graph: TaskGraph, job: Any, pipeline: str) -> tuple[list[Any], list[Any]]:
    """The schedules and the sensors for every trigger of a graph (names `<pipeline>_schedule[_N]`), for the
    graph's one `Definitions`."""
    schedules = []
    sensors = []
    for index, trigger in enumerate(graph.triggers):
        default = f"{pipeline}_schedule" + (f"_{index}" if index else "")
        name = dagster_name(trigger.name) if trigger.name else default
        if isinstance(trigger, IntervalTrigger):
            sensors.append(build_interval_sensor(graph, trigger, job, name))
        else:
            schedules.append(build_schedule(graph, trigger, job, name))
    return schedules, sensors
