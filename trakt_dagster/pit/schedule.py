"""pit's `schedule` (robfig/cron `ParseStandard`) as core triggers.

5-field cron, the descriptors `@yearly @annually @monthly @weekly @daily @midnight @hourly`, `@every
<Go duration>`, and an optional `TZ=<Zone> ` / `CRON_TZ=<Zone> ` prefix. Without a prefix pit fires in the
server's local zone, so the schedule gets the host's zone (Dagster's default would be UTC).
"""

from __future__ import annotations

from dagster._utils.schedules import is_valid_cron_string

from trakt_dagster.core.graph import CronTrigger, IntervalTrigger
from trakt_dagster.core.triggers import CRON_MACROS, host_timezone, is_timezone
from trakt_dagster.pit.durations import DurationError, parse_go_duration

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


class ScheduleError(ValueError):
    """A schedule pit would reject (the message says what is wrong and what is accepted)."""


def parse_schedule(
    text: str, *, overlap: str = "allow", default_timezone: str | None = None
) -> CronTrigger | IntervalTrigger:
    """The trigger for a pit schedule string.

    Example:
        >>> parse_schedule("TZ=Europe/Paris 0 6 * * *")
        CronTrigger(cron='0 6 * * *', timezone='Europe/Paris', overlap='allow', name=None, default_running=False)
        >>> parse_schedule("@midnight", default_timezone="UTC").cron
        '0 0 * * *'
        >>> parse_schedule("@every 1h30m").seconds
        5400.0
    """
    raw = text.strip()
    timezone = None
    for prefix in ("CRON_TZ=", "TZ="):
        if raw.startswith(prefix):
            zone, _, raw = raw[len(prefix) :].partition(" ")
            if not is_timezone(zone):
                raise ScheduleError(f'unknown time zone "{zone}" in schedule "{text}"')
            timezone = zone
            raw = raw.strip()
            break
    if raw.startswith("@every"):
        duration = raw[len("@every") :].strip()
        try:
            seconds = parse_go_duration(duration)
        except DurationError as exc:
            raise ScheduleError(f'invalid schedule "{text}": {exc}') from None
        if seconds <= 0:
            raise ScheduleError(f'invalid schedule "{text}": @every needs a positive duration')
        return IntervalTrigger(seconds=seconds, overlap=overlap, source=text)
    if raw.startswith("@"):
        if raw not in DESCRIPTORS:
            raise ScheduleError(
                f'invalid schedule "{text}": unknown descriptor {raw}; use one of {", ".join(DESCRIPTORS)} '
                "or @every <duration>"
            )
        cron = CRON_MACROS.get(raw, raw)
    else:
        fields = raw.split()
        if len(fields) != 5:
            raise ScheduleError(
                f'invalid schedule "{text}": expected 5 fields (minute hour day-of-month month day-of-week), '
                f"got {len(fields)}"
            )
        cron = " ".join(fields)
        if not is_valid_cron_string(cron):
            raise ScheduleError(f'invalid schedule "{text}": not a valid cron expression')
    return CronTrigger(cron=cron, timezone=timezone or default_timezone or host_timezone(), overlap=overlap)
