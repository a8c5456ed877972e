"""ductaflow adapter: percent-format notebook flows, builds and scenario grids as Dagster assets.

Stages: `loader` (read projects without executing anything) → `model` → `translate` (task graphs with
partitions) → `tasks` / `runtime` (run instances on kernels, report to Dagster) → `report` (conductor
results); `cli` adds `trakt-dagster ductaflow ...`. The notebooks run on `compat/ductaflow`, a
ductaflow-compatible module that flows also import inside their kernels.
"""
