"""The optional top-level `dagster:` block of a pipeline.yaml (trakt ignores unknown top-level keys).

```yaml
dagster:
  input_dir: data/in          # relative to the pipeline folder (default: the pipeline folder)
  output_dir: data/out        # default: <pipeline folder>/outputs
  group: finance              # asset group (default: the pipeline name)
  granularity: step           # pipeline (default) | step
  pool: warehouse             # Dagster concurrency pool of the pipeline's op(s)
  retries: 2                  # Dagster retries of the op(s) (RetryPolicy); retry_delay in seconds
  retry_delay: 30
  description: Daily revenue
  owners: [team:finance]
  tags: {domain: sales}
  schedule: {cron: "0 6 * * *", timezone: Europe/Berlin}   # or just the cron string
  retention: {keep_runs: 50, keep_days: 30, keep_artifacts: [logs]}   # run folders (default: the root's)
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from trakt_dagster.core.errors import excerpt
from trakt_dagster.core.path_text import path_text_problem
from trakt_dagster.core.retention import policy_from, policy_problems

SETTING_KEYS = (
    "input_dir",
    "output_dir",
    "group",
    "granularity",
    "description",
    "owners",
    "tags",
    "schedule",
    "retention",
    "pool",
    "retries",
    "retry_delay",
)

Report = Callable[..., None]


def parse_settings(raw: Any, report: Report) -> dict[str, Any]:
    """Validate the `dagster:` block; problems go to `report(message, key_path, hint)`."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        report("Pipeline 'dagster' must be a mapping.", ("dagster",), f"allowed keys: {', '.join(SETTING_KEYS)}")
        return {}
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        where = ("dagster", str(key))
        if key not in SETTING_KEYS:
            report(
                f"Pipeline 'dagster' has unknown field {excerpt(key)}.",
                where,
                f"allowed keys: {', '.join(SETTING_KEYS)}",
            )
        elif key in ("retries", "retry_delay"):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
                or (key == "retries" and not isinstance(value, int))
            ):
                what = "a whole number >= 0" if key == "retries" else "seconds >= 0"
                report(f"Pipeline 'dagster.{key}' must be {what}, got {value!r}.", where, f"e.g. {key}: 2")
            else:
                settings[key] = value
        elif key in ("input_dir", "output_dir", "group", "description", "pool"):
            if not isinstance(value, str) or not value.strip():
                report(f"Pipeline 'dagster.{key}' must be a non-empty string.", where, "quote the value")
            elif key.endswith("_dir") and path_text_problem(value):
                report(
                    f"Pipeline 'dagster.{key}' {excerpt(value)} {path_text_problem(value)}.",
                    where,
                    "write a folder path of ordinary names, relative to the pipeline folder or absolute",
                )
            else:
                settings[key] = value.strip()
        elif key == "granularity":
            if not isinstance(value, str) or value not in ("pipeline", "step"):
                report(
                    f"Pipeline 'dagster.granularity' must be 'pipeline' or 'step', got {excerpt(value)}.",
                    where,
                    "use 'pipeline' (one op, in-memory artifacts) or 'step' (one op per step)",
                )
            else:
                settings[key] = value
        elif key == "owners":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                report("Pipeline 'dagster.owners' must be a list of strings.", where, "e.g. [team:finance]")
            else:
                settings[key] = list(value)
        elif key == "tags":
            if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
                report("Pipeline 'dagster.tags' must map names to strings.", where, "quote the tag values")
            else:
                settings[key] = {str(k): v for k, v in value.items()}
        elif key == "retention":
            if not isinstance(value, Mapping):
                report(
                    "Pipeline 'dagster.retention' must be a mapping.",
                    where,
                    "e.g. retention: {keep_runs: 50, keep_days: 30, keep_artifacts: [logs]}",
                )
                continue
            problems = policy_problems(value)
            for field, message in problems:
                report(f"Pipeline 'dagster.retention.{field}' {message}.", (*where, field), "see docs/faults.md")
            if not problems:
                settings[key] = policy_from(value)
        elif key == "schedule":
            schedule = _parse_schedule(value)
            if schedule is None:
                report(
                    "Pipeline 'dagster.schedule' must be a cron string or {cron, timezone}.",
                    where,
                    "e.g. schedule: {cron: '0 6 * * *', timezone: UTC}",
                )
            else:
                settings[key] = schedule
    return settings


def _parse_schedule(value: Any) -> dict[str, str | None] | None:
    if isinstance(value, str) and value.strip():
        return {"cron": value.strip(), "timezone": None}
    if isinstance(value, Mapping) and isinstance(value.get("cron"), str) and set(value) <= {"cron", "timezone"}:
        tz = value.get("timezone")
        if tz is not None and not isinstance(tz, str):
            return None
        return {"cron": value["cron"].strip(), "timezone": tz}
    return None
