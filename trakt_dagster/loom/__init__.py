"""loom.etl on Dagster: `ETLPipeline` classes as assets, run by loom's own `ETLRunner`.

Modules under `pipelines/` that define `ETLPipeline` subclasses are found by `build_definitions`, with
loom's runner YAML beside them (`loom.yaml`). Each pipeline is one subsettable multi-asset (one asset per
table or file its steps write) and one job; a run is one `ETLRunner.run` call with the selected steps as
`include`. See docs/loom.md.

Example:
    ```python
    from trakt_dagster import build_definitions
    from trakt_dagster.loom import LoomRunnerResource

    defs = build_definitions(".", resources={"loom_runner": LoomRunnerResource(temp_dir="/data/loom-temps")})
    ```
"""

from trakt_dagster.loom.resource import LOOM_RUNNER_KEY, LoomRunnerResource

__all__ = ["LOOM_RUNNER_KEY", "LoomRunnerResource"]
