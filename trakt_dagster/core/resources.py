"""Dagster resources shared by every pipeline: where run folders go."""

from __future__ import annotations

import dagster as dg

RUN_STORAGE_KEY = "trakt_run_storage"


class RunStorage(dg.ConfigurableResource):
    """Where run folders are written: `<runs_dir>/<pipeline>/<dagster run id>/`.

    Bound by `build_definitions` (default `runs/` beside definitions.py); change it per deployment with
    `TRAKT_DAGSTER_RUNS_DIR` or per run in the launchpad:

    Example:
        ```yaml
        resources:
          trakt_run_storage:
            config:
              runs_dir: /data/dagster-runs
        ```
    """

    runs_dir: str
