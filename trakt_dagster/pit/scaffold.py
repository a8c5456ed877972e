"""`pit init [--type python|sql|shell|dbt] <name>`: a new project under `projects/` that validates and runs.

Unlike pit's own scaffold, the Python sample imports `pit_sdk.secret` (the module that exists), not
`pit_sdk.secrets`.
"""

from __future__ import annotations

from pathlib import Path

PIT_TOML = {
    "python": """\
[dag]
name = "{name}"
schedule = "@daily"
overlap = "skip"

[[tasks]]
name = "hello"
script = "tasks/hello.py"
retries = 1
retry_delay = "10s"
""",
    "shell": """\
[dag]
name = "{name}"
schedule = "@daily"

[[tasks]]
name = "hello"
script = "tasks/hello.sh"
timeout = "5m"
""",
    "sql": """\
[dag]
name = "{name}"
schedule = "@daily"

[dag.sql]
connection = "{name}_db"   # a secret holding the connection URL; without secrets the task runs as a stub

[[tasks]]
name = "refresh"
script = "sql/refresh.sql"
""",
    "dbt": """\
[dag]
name = "{name}"
schedule = "@daily"

[dag.dbt]
version = "1.11.0"
adapter = "dbt-duckdb"
project_dir = "dbt"
connection = "{name}_warehouse"   # structured secret with database = "<file>.duckdb"

[[tasks]]
name = "build"
runner = "dbt"
script = "build"
""",
}

FILES = {
    "python": {
        "tasks/hello.py": '''\
"""A pit task: reads a secret through the SDK socket and writes a Parquet file to the run's data/."""

import os

from pit_sdk.secret import get_secret

print(f"hello from {os.environ['PIT_TASK_NAME']} in run {os.environ['PIT_RUN_ID']}")
try:
    get_secret("greeting")
except RuntimeError as exc:
    print(f"no greeting secret yet: {exc}")
''',
    },
    "shell": {"tasks/hello.sh": 'echo "hello from $PIT_TASK_NAME in run $PIT_RUN_ID"\nls "$PIT_DATA_DIR"\n'},
    "sql": {
        "sql/refresh.sql": (
            "create table if not exists refreshed (at text);\ninsert into refreshed values (datetime('now'));\n"
        )
    },
    "dbt": {
        "dbt/dbt_project.yml": 'name: "{name}"\nversion: "1.0.0"\nprofile: "{name}"\nmodel-paths: ["models"]\n',
        "dbt/models/hello.sql": "select 1 as id, 'hello' as greeting\n",
        "dbt/models/schema.yml": (
            "version: 2\nmodels:\n  - name: hello\n    columns:\n      - name: id\n        tests: [not_null, unique]\n"
        ),
    },
}


def scaffold_project(root: Path, name: str, kind: str = "python") -> Path:
    """Write `projects/<name>/` with a pit.toml and its task files; returns the project folder.

    Example:
        >>> # scaffold_project(Path("."), "sales", "sql") -> Path("projects/sales")
    """
    if kind not in PIT_TOML:
        raise ValueError(f"unknown project type '{kind}': use {', '.join(PIT_TOML)}")
    folder = Path(root) / "projects" / name
    if (folder / "pit.toml").exists():
        raise FileExistsError(f"{folder / 'pit.toml'} already exists")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pit.toml").write_text(PIT_TOML[kind].format(name=name), encoding="utf-8")
    for rel, text in FILES[kind].items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", name), encoding="utf-8")
    return folder
