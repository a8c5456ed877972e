"""`pit init [--type python|sql|shell|dbt|transform] <name>`: a new project under `projects/` that validates and
runs; `pit new <name>`: a new workspace holding one.

Unlike pit's own scaffold, the Python sample imports `pit_sdk.secret` (the module that exists), not
`pit_sdk.secrets`, and needs no `pyproject.toml` fetching pit's SDK from GitHub (trakt-dagster serves a
compatible `pit_sdk`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
"""pit's rule for project and workspace names."""
SAMPLE_PROJECT = "sample_pipeline"

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
    "transform": """\
[dag]
name = "{name}"
# schedule = "0 7 * * *"

[dag.sql]
connection = "{name}_warehouse"   # a secret holding the connection URL; without secrets the models run as stubs

[dag.transform]
dialect = "mssql"
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
    "transform": {
        "models/defaults.toml": (
            "# Settings for every model below this folder; a table named after a model overrides them for it.\n"
            '[defaults]\nmaterialization = "view"\nschema = "dbo"\n\n[order_totals]\nmaterialization = "table"\n'
        ),
        "models/staging/stg_orders.sql": "SELECT id, customer_id, amount\nFROM raw.orders\nWHERE amount > 0\n",
        "models/order_totals.sql": (
            'SELECT customer_id, SUM(amount) AS total\nFROM {{ ref "stg_orders" }}\nGROUP BY customer_id\n'
        ),
    },
}

WORKSPACE_FILES = {
    ".gitignore": "runs/\n.venv/\nrepo_cache/\ncompiled_models/\n.dagster/\n*.db\nsecrets/\n",
    "pit_config.toml": (
        "# Workspace settings (all optional); paths are relative to this folder.\n"
        '# secrets_dir = "secrets/secrets.toml"     # or a .toml.age file\n'
        '# runs_dir = "runs"\n'
        '# repo_cache_dir = "repo_cache"\n'
        '# keep_artifacts = ["logs", "project", "data"]\n'
    ),
    "definitions.py": (
        '"""Dagster code location of this pit workspace: `dagster dev -f definitions.py`."""\n\n'
        "from pathlib import Path\n\nfrom trakt_dagster import build_definitions\n\n"
        "defs = build_definitions(Path(__file__).parent)\n"
    ),
    "README.md": """\
# {name}

A pit workspace run by trakt-dagster: every `projects/<name>/pit.toml` is a DAG.

```
trakt-dagster pit validate                      # check every project
trakt-dagster pit run sample_pipeline           # run the sample DAG
trakt-dagster pit run sample_pipeline/<task>    # run one task
trakt-dagster pit init --type sql my_project    # add a project
trakt-dagster pit serve                         # schedules, triggers and the Dagster UI
trakt-dagster pit status                        # newest run of each DAG
```
""",
}


def scaffold_project(root: Path, name: str, kind: str = "python") -> Path:
    """Write `projects/<name>/` with a pit.toml and its task files; returns the project folder.

    Example:
        >>> # scaffold_project(Path("."), "sales", "sql") -> Path("projects/sales")
    """
    if kind not in PIT_TOML:
        raise ValueError(f'unknown project type "{kind}" (must be python, sql, shell, dbt, or transform)')
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f'invalid project name "{name}": must match [a-z][a-z0-9_]*')
    folder = Path(root) / "projects" / name
    if folder.exists():
        raise FileExistsError(f"project directory already exists: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pit.toml").write_text(PIT_TOML[kind].format(name=name), encoding="utf-8")
    for rel, text in FILES[kind].items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", name), encoding="utf-8")
    return folder


def scaffold_workspace(parent: Path, name: str, kind: str = "python") -> Path:
    """Write a new workspace `<parent>/<name>/` (pit_config.toml, .gitignore, README.md, definitions.py and the
    project `sample_pipeline` of `kind`) and make it a git repository; returns the workspace folder.

    Example:
        >>> # scaffold_workspace(Path("."), "analytics", "sql") -> Path("analytics")
    """
    if kind not in PIT_TOML:
        raise ValueError(f'unknown project type "{kind}" (must be python, sql, shell, dbt, or transform)')
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f'invalid workspace name "{name}": must match [a-z][a-z0-9_]*')
    folder = Path(parent) / name
    if folder.exists():
        raise FileExistsError(f"directory already exists: {folder}")
    folder.mkdir(parents=True)
    for rel, text in WORKSPACE_FILES.items():
        (folder / rel).write_text(text.replace("{name}", name), encoding="utf-8")
    scaffold_project(folder, SAMPLE_PROJECT, kind)
    git = shutil.which("git")
    if git is None:
        raise OSError("git init: git is not installed (the workspace was written without a repository)")
    done = subprocess.run([git, "init"], cwd=folder, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"git init: {done.stderr.strip() or done.stdout.strip()}")
    return folder
