"""pit's event triggers as Dagster definitions: `<dag>_ftp_watch` and `<dag>_webhook` sensors.

Cron schedules go through the core (`core.triggers`); the FTP watch and the webhook need pit's secrets,
matching rules and the webhook inbox, so the pit front end adds them through `TaskGraph.extra_definitions`.
Both sensors start **running**: they only act when a file or an event arrives, and a stopped webhook sensor
would hold accepted events without a word. Under `trakt-dagster pit serve` the cron schedules start
running too (`SERVE_ENV`), as every trigger does under pit's `serve`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import dagster as dg

from trakt_dagster.pit.model import PitProject, WorkspaceConfig

SERVE_ENV = "TRAKT_DAGSTER_PIT_SERVE"
"""Set to 1 by `trakt-dagster pit serve` for the Dagster processes it starts: pit schedules start running."""


def serve_mode() -> bool:
    """Whether this process was started by `trakt-dagster pit serve`.

    Example:
        >>> isinstance(serve_mode(), bool)
        True
    """
    return os.environ.get(SERVE_ENV, "") == "1"


def event_trigger_definitions(
    project: PitProject, workspace: WorkspaceConfig
) -> Callable[[Any], dg.Definitions] | None:
    """The `extra_definitions` hook of a pit graph with an FTP watch or a webhook (None without either).

    Example:
        >>> # TaskGraph(..., extra_definitions=event_trigger_definitions(project, workspace))
    """
    if project.ftp_watch is None and not project.webhook_token_secret:
        return None

    def build(context: Any) -> dg.Definitions:
        sensors = []
        if project.ftp_watch is not None:
            from trakt_dagster.pit.ftp_watch import build_ftp_sensor

            sensors.append(build_ftp_sensor(project, workspace, context.job))
        if project.webhook_token_secret:
            from trakt_dagster.pit.webhook_sensor import build_webhook_sensor

            sensors.append(build_webhook_sensor(project, context.job))
        return dg.Definitions(sensors=sensors)

    return build
