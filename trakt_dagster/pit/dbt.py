"""pit dbt tasks on dagster-dbt: read a dbt project's nodes and tests, write profiles, run dbt commands.

Building blocks for the pit adapter (which turns nodes into assets and tests into asset checks):

* `read_dbt_project` — models/seeds/snapshots with their tests, from dbt's manifest (cached);
* `write_profiles` — `profiles.yml` from `[dag.dbt]` and its connection secret (mode 0600);
* `run_dbt` / `selection_args` — run `dbt <script words>` through `DbtCliResource`, streaming log lines
  and returning per-node results from `run_results.json`.

Implementation: `dbt_project.py` (parse + cache), `dbt_manifest.py` (manifest → nodes), `dbt_profiles.py`,
`dbt_run.py`, `dbt_cli.py` (starting dbt).

Example:
    >>> from trakt_dagster.pit.dbt import selection_args
    >>> selection_args(["orders"])
    ['--select', 'orders']
"""

from __future__ import annotations

from trakt_dagster.pit.dbt_cli import dbt_executable
from trakt_dagster.pit.dbt_manifest import DbtNode, DbtProjectInfo, DbtTest, project_info
from trakt_dagster.pit.dbt_profiles import DbtProfileError, adapter_type, write_profiles
from trakt_dagster.pit.dbt_project import DbtProjectError, default_cache_dir, read_dbt_project
from trakt_dagster.pit.dbt_run import DbtNodeResult, DbtRunOutcome, run_dbt, selection_args, summary_line

__all__ = [
    "DbtNode",
    "DbtNodeResult",
    "DbtProfileError",
    "DbtProjectError",
    "DbtProjectInfo",
    "DbtRunOutcome",
    "DbtTest",
    "adapter_type",
    "dbt_executable",
    "default_cache_dir",
    "project_info",
    "read_dbt_project",
    "run_dbt",
    "selection_args",
    "summary_line",
    "write_profiles",
]
