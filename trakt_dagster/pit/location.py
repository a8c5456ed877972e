"""The code location `trakt-dagster pit serve` loads for a workspace without `definitions.py`: every pipeline
(pit projects under `projects/`, the other tools' under `pipelines/`) of `$TRAKT_DAGSTER_ROOT`.

Example:
    ```
    TRAKT_DAGSTER_ROOT=/srv/pit dagster-daemon run -m trakt_dagster.pit.location
    ```
"""

from __future__ import annotations

import os
from pathlib import Path

from trakt_dagster.core.definitions import build_definitions

defs = build_definitions(Path(os.environ.get("TRAKT_DAGSTER_ROOT", ".")).resolve())
