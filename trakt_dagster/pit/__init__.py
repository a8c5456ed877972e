"""pit projects (`projects/<name>/pit.toml`) on Dagster: tasks as assets, pit's runners, snapshots and secrets.

See docs/pit.md. The task processes get pit's environment (`PIT_RUN_ID`, `PIT_TASK_NAME`, `PIT_DAG_NAME`,
`PIT_SOCKET`, `PIT_DATA_DIR`) and, when their project has none, a compatible `pit_sdk` module.
"""
