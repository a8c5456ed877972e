"""`trakt-dagster pit ...` is pit's command line: its commands, flags and output layouts (run summary, outputs,
`logs --list` and `status` tables, validation and error lines), compared with what pit's source prints.
`.age` secrets (row 42) on the way."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner

from tests.pit.conftest import workspace
from trakt_dagster.cli import main as cli

PROJECTS = {
    "pit_config.toml": 'secrets_dir = "secrets.toml.age"\n',
    "projects/sales/pit.toml": """
        [dag]
        name = "sales"
        [[tasks]]
        name = "extract"
        script = "extract.sh"
        [[tasks]]
        name = "report"
        script = "report.py"
        depends_on = ["extract"]
        [[outputs]]
        name = "weekly mail"
        type = "email"
        location = "mail://sales"
        recipients = "boss@example.com"
        [[outputs]]
        name = "orders"
        type = "table"
        location = "warehouse.sales.orders"
    """,
    "projects/sales/extract.sh": 'echo "extracting for $PIT_DAG_NAME"\n',
    "projects/sales/report.py": """
        from pit_sdk.secret import get_secret_field

        user = get_secret_field("db", "user")
        print("db user:", user, "length", len(user))
    """,
    "projects/broken/pit.toml": '[[tasks]]\nname = "a"\nscript = "gone.sh"\n',
}

# a: ok; c: ok (same level as a); b <- a fails twice (retries = 1); d <- b never starts
CHAIN = {
    "projects/chain/pit.toml": """
        [dag]
        name = "chain"
        [[tasks]]
        name = "a"
        script = "a.sh"
        [[tasks]]
        name = "b"
        script = "b.sh"
        depends_on = ["a"]
        retries = 1
        [[tasks]]
        name = "c"
        script = "c.py"
        [[tasks]]
        name = "d"
        script = "a.sh"
        depends_on = ["b"]
        [[outputs]]
        name = "never"
        type = "file"
        location = "/tmp/never.csv"
    """,
    "projects/chain/a.sh": "echo one\necho two\n",
    "projects/chain/b.sh": 'echo "b tries"\nexit 1\n',
    "projects/chain/c.py": """
        from pit_sdk.secret import get_secret

        try:
            print("greeting has", len(get_secret("greeting")), "characters")
        except RuntimeError as exc:
            print("no greeting:", exc)
    """,
    "secrets.toml": '[chain]\ngreeting = "bonjour"\n',
}

DURATION = r"(\d+h)?(\d+m)?\d+(\.\d+)?(ms|s|µs)"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def root(tmp_path_factory, monkeypatch_module) -> Path:
    folder = workspace(tmp_path_factory.mktemp("cli"), PROJECTS)
    identity = pyrage.x25519.Identity.generate()
    secrets = b'[sales.db]\nuser = "report_reader"\npassword = "pw-never-shown-81"\n'
    (folder / "secrets.toml.age").write_bytes(pyrage.encrypt(secrets, [identity.to_public()]))
    monkeypatch_module.setenv("PIT_AGE_KEY", str(identity))
    monkeypatch_module.delenv("DAGSTER_HOME", raising=False)
    monkeypatch_module.delenv("TRAKT_DAGSTER_RUNS_DIR", raising=False)
    return folder


@pytest.fixture(scope="module")
def chain(tmp_path_factory, monkeypatch_module) -> Path:
    monkeypatch_module.delenv("DAGSTER_HOME", raising=False)
    monkeypatch_module.delenv("TRAKT_DAGSTER_RUNS_DIR", raising=False)
    return workspace(tmp_path_factory.mktemp("chain"), CHAIN)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_prints_pits_lines(root: Path, tmp_path: Path) -> None:
    broken = invoke("pit", "validate", "--project-dir", str(root))
    assert broken.exit_code == 1
    assert broken.stderr.startswith(f"ERROR: [broken] {root}/projects/broken/pit.toml:3 (key tasks[0].script): ")
    assert 'task "a": script "gone.sh" not found\n  fix: ' in broken.stderr
    assert broken.stderr.endswith("Error: validation found 1 error(s)\n")
    shutil.rmtree(root / "projects" / "broken")
    try:
        good = invoke("pit", "--project-dir", str(root), "validate")  # pit's global flag before the command
        assert (good.exit_code, good.stdout) == (0, "All projects validated successfully.\n")
    finally:
        workspace(root, {"projects/broken/pit.toml": PROJECTS["projects/broken/pit.toml"]})
    empty = invoke("pit", "validate", "--project-dir", str(tmp_path))
    assert (empty.exit_code, empty.stdout, empty.stderr) == (
        1,
        "",
        f"Error: no projects found in {tmp_path}/projects/\n",
    )


def test_run_logs_and_age_secrets_row_42(root: Path) -> None:
    run = invoke("pit", "run", "sales", "--project-dir", str(root))
    assert run.exit_code == 0, run.output
    assert run.stderr == ""  # no Dagster event lines without --verbose
    pattern = (
        r"\n── Run \d{8}_\d{6}\.\d{3}_sales ──\nDAG: sales  Status: success  Duration: <D>\n\n"
        r"  extract              success  <D>\n  report               success  <D>\n\n"
    ).replace("<D>", DURATION)
    assert re.fullmatch(pattern, run.stdout), run.stdout
    logs = invoke("pit", "logs", "sales/report", "--project-dir", str(root))
    # the task got the decrypted value (13 characters), which the log shows masked
    assert logs.stdout == "db user: *** length 13\n" and logs.exit_code == 0
    single = invoke("pit", "run", "sales/report", "--root", str(root))
    assert single.exit_code == 0
    assert single.stderr == 'warning: task "report" depends on [extract] — dependencies skipped in single-task mode\n'
    assert "\n  extract              skipped\n  report               success  " in single.stdout
    listed = invoke("pit", "logs", "sales", "--list", "--project-dir", str(root))
    lines = listed.stdout.splitlines()
    assert lines[:2] == [f"  {'RUN ID':<40}  TIMESTAMP", f"  {'------':<40}  ---------"] and len(lines) == 4
    assert all(re.fullmatch(r"  \d{8}_\d{6}\.\d{3}_sales {15}  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", ln) for ln in lines[2:])
    newest = lines[2].split()[0]
    all_logs = invoke("pit", "logs", "sales", "--run-id", newest, "--project-dir", str(root))
    assert all_logs.stdout == "── report ──\ndb user: *** length 13\n"  # the single-task run: extract never started
    missing = invoke("pit", "run", "sales/nope", "--project-dir", str(root))
    assert (missing.exit_code, missing.stderr) == (1, 'Error: task "nope" not found in DAG "sales"\n')
    unknown = invoke("pit", "run", "salez", "--project-dir", str(root))
    assert unknown.exit_code == 1 and unknown.stderr.endswith('Error: DAG "salez" not found (available: sales)\n')
    empty_task = invoke("pit", "run", "sales/", "--project-dir", str(root))
    assert empty_task.stderr == 'Error: task name cannot be empty in "sales/" (use just "sales" to run the full DAG)\n'
    broken = invoke("pit", "run", "broken", "--project-dir", str(root))
    assert broken.exit_code == 1 and broken.stderr.startswith(f"ERROR: [broken] {root}/projects/broken/pit.toml:3")


def test_a_failed_run_shows_pits_summary_then_verbose_streams_output(chain: Path) -> None:
    quiet = invoke("pit", "run", "chain", "--project-dir", str(chain))
    assert quiet.exit_code == 1
    assert quiet.stderr == "Error: run failed\n"  # no Dagster lines, no traceback
    script = chain / "runs"
    pattern = (
        r"\n── Run (?P<id>\d{8}_\d{6}\.\d{3}_chain) ──\nDAG: chain  Status: failed  Duration: <D>\n\n"
        r"  a                    success  <D>\n"
        r"  b                    failed  \(shell runner (?P<script>\S+/project/b\.sh): exit status 1\)"
        r"  \[attempt 2/2\]  <D>\n"
        r"  c                    success  <D>\n"
        r"  d                    upstream_failed\n\n"
    ).replace("<D>", DURATION)
    match = re.fullmatch(pattern, quiet.stdout)
    assert match, quiet.stdout
    assert match["script"].startswith(str(script))
    loud = invoke(
        "pit", "--verbose", "--secrets", str(chain / "secrets.toml"), "run", "chain", "--project-dir", str(chain)
    )
    assert loud.exit_code == 1
    # task output as pit streams it: `[task] ` before each line of a task sharing its level (a and c), b alone
    out = loud.stdout
    assert "[a] one\n[a] two\n" in out and "[c] greeting has 7 characters\n" in out
    # b's own lines (no prefix) in order; c's may come in between, as c runs while b retries
    streamed = out[: out.index("── Run ")].splitlines()
    assert [line for line in streamed if not line.startswith("[")] == [
        "b tries",
        "",
        "--- retry attempt 2/2 ---",
        "b tries",
        "",
    ]
    assert out.index("b tries") < out.index("── Run ")
    assert "RUN_START" in loud.stderr and "STEP_FAILURE" in loud.stderr  # Dagster's own lines, only with -v
    assert "RUN_START" not in quiet.stderr + quiet.stdout
    # pit's `logs`: every log of the newest run in file order, each after its `── task ──` line; none for d
    logs = invoke("pit", "logs", "chain", "--project-dir", str(chain))
    assert logs.stdout == (
        "── a ──\none\ntwo\n── b ──\nb tries\n\n--- retry attempt 2/2 ---\nb tries\n"
        "── c ──\ngreeting has 7 characters\n"
    )
    first = invoke("pit", "logs", "chain/c", "--run-id", match["id"], "--project-dir", str(chain))
    assert first.stdout == "no greeting: SDK error: unknown method: get_secret\n"
    none = invoke("pit", "logs", "chain/d", "--project-dir", str(chain))
    assert (none.exit_code, none.stderr) == (1, 'Error: no log file for task "d"\n')
    other = invoke("pit", "logs", "chain", "--run-id", "20260101_000000.000_sales", "--project-dir", str(chain))
    assert other.stderr == 'Error: run "20260101_000000.000_sales" belongs to DAG "sales", not "chain"\n'
    status = invoke("pit", "status", "--project-dir", str(chain))
    assert status.stdout.splitlines()[:2] == [
        "DAG                  Last Run              Status   Duration",
        "───                  ────────              ──────   ────────",
    ]
    assert re.fullmatch(
        r"chain {16}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d   failed   (\d+m)?\d+s", status.stdout.splitlines()[2]
    )


def test_status_and_logs_without_runs(tmp_path: Path) -> None:
    assert invoke("pit", "status", "--project-dir", str(tmp_path)).stdout == "No runs recorded yet.\n"
    assert invoke("pit", "logs", "x", "--project-dir", str(tmp_path)).stdout == 'no runs found for DAG "x"\n'
    assert invoke("pit", "logs", "x", "--list", "--project-dir", str(tmp_path)).stdout == 'no runs found for DAG "x"\n'


def test_outputs_are_pits_table(root: Path) -> None:
    everything = invoke("pit", "outputs", "--project-dir", str(root))
    assert everything.exit_code == 0  # pit lists outputs of projects that fail validation too
    assert everything.stdout == (
        "  PROJECT  NAME         TYPE   LOCATION\n"
        "  -------  -----------  -----  ----------------------\n"
        "  sales    orders       table  warehouse.sales.orders\n"
        "  sales    weekly mail  email  mail://sales\n"
    )
    tables = invoke("pit", "outputs", "--project-dir", str(root), "--type", "table")
    assert tables.stdout.splitlines()[2:] == ["  sales    orders  table  warehouse.sales.orders"]
    located = invoke("pit", "outputs", "--project-dir", str(root), "--location", "mail://*")
    assert [line.split()[1] for line in located.stdout.splitlines()[2:]] == ["weekly"]
    none = invoke("pit", "outputs", "--project-dir", str(root), "--project", "nope")
    assert none.stdout == "no outputs found\n"


@pytest.mark.parametrize("kind", ["python", "shell", "sql", "dbt", "transform"])
def test_init_scaffolds_a_project_that_validates_and_runs(tmp_path: Path, kind: str, monkeypatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("TRAKT_DAGSTER_RUNS_DIR", raising=False)
    created = invoke("pit", "init", "--type", kind, "--project-dir", str(tmp_path), "demo")
    folder = "models" if kind == "transform" else "tasks"
    assert created.exit_code == 0 and created.stdout == (
        f'Created {kind} project "demo" in projects/demo/\n\nNext steps:\n'
        "  1. Edit projects/demo/pit.toml to configure your DAG\n"
        f"  2. Add {'models' if kind == 'transform' else 'task scripts'} to projects/demo/{folder}/\n"
        "  3. Run `trakt-dagster pit validate` to check your configuration\n"
    )
    again = invoke("pit", "init", "--type", kind, "--project-dir", str(tmp_path), "demo")
    assert again.exit_code == 1
    assert again.stderr == f"Error: project directory already exists: {tmp_path / 'projects' / 'demo'}\n"
    assert invoke("pit", "validate", "--project-dir", str(tmp_path)).exit_code == 0
    if kind == "dbt":  # the scaffold names a warehouse secret; give it one
        (tmp_path / "pit_config.toml").write_text('secrets_dir = "secrets.toml"\n')
        (tmp_path / "secrets.toml").write_text('[demo.demo_warehouse]\ndatabase = "demo.duckdb"\n')
    run = invoke("pit", "run", "demo", "--project-dir", str(tmp_path))
    assert run.exit_code == 0, run.output
    if kind == "python":
        assert "hello from hello" in invoke("pit", "logs", "demo/hello", "--project-dir", str(tmp_path)).stdout
    if kind == "dbt":
        assert (tmp_path / "demo.duckdb").is_file()
    if kind == "transform":
        compiled = invoke("pit", "compile", "demo", "--project-dir", str(tmp_path))
        shown = tmp_path / "projects" / "demo" / "compiled_models"
        assert compiled.stdout == f"Compiled 2 models to {shown}\n  stg_orders (view)\n  order_totals (table)\n"
        # pit's view template: `CREATE OR ALTER VIEW {{ .This }} AS` then the model's SQL as written
        assert (shown / "stg_orders.sql").read_text() == (
            "CREATE OR ALTER VIEW [dbo].[stg_orders] AS\nSELECT id, customer_id, amount\nFROM raw.orders\n"
            "WHERE amount > 0\n"
        )


def test_init_and_new_refuse_what_pit_refuses(tmp_path: Path) -> None:
    bad_type = invoke("pit", "init", "--type", "notebook", "--project-dir", str(tmp_path), "demo")
    assert bad_type.stderr == 'Error: unknown project type "notebook" (must be python, sql, shell, dbt, or transform)\n'
    bad_name = invoke("pit", "init", "--project-dir", str(tmp_path), "Demo-1")
    assert bad_name.stderr == 'Error: invalid project name "Demo-1": must match [a-z][a-z0-9_]*\n'
    assert bad_type.exit_code == bad_name.exit_code == 1
    assert not (tmp_path / "projects").exists()


def test_new_creates_a_workspace_that_validates(tmp_path: Path) -> None:
    made = invoke("pit", "new", "analytics", "--type", "shell", "--project-dir", str(tmp_path))
    assert made.exit_code == 0, made.output
    assert made.stdout == (
        f'Created workspace "analytics" with a shell sample project.\n\nNext steps:\n  cd {tmp_path / "analytics"}\n'
        "  trakt-dagster pit validate\n  trakt-dagster pit run sample_pipeline\n"
    )
    ws = tmp_path / "analytics"
    assert (ws / ".git").is_dir() and (ws / "pit_config.toml").is_file() and (ws / "definitions.py").is_file()
    assert (ws / "projects" / "sample_pipeline" / "pit.toml").is_file()
    assert invoke("pit", "validate", "--project-dir", str(ws)).stdout == "All projects validated successfully.\n"
    again = invoke("pit", "new", "analytics", "--project-dir", str(tmp_path))
    assert (again.exit_code, again.stderr) == (1, f"Error: directory already exists: {ws}\n")


def test_compile_writes_pits_sql_and_stored_procedure(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "transform_ws"
    shutil.copytree(fixture / "projects", tmp_path / "projects")
    done = invoke("pit", "compile", "warehouse", "--stored-procedure", "--project-dir", str(tmp_path))
    assert done.exit_code == 0, done.output
    out = tmp_path / "projects" / "warehouse" / "compiled_models"
    assert done.stdout == (
        f"Compiled 5 models to {out}\n  stg_customers (view)\n  stg_orders (view)\n  dim_customers (table)\n"
        "  fct_order_status (incremental)\n  fct_daily_revenue (incremental)\n"
        f"Stored procedure written to {out / 'pit_warehouse.sql'}\n"
    )
    for expected in (fixture / "expected").iterdir():
        assert (out / expected.name).read_bytes() == expected.read_bytes(), expected.name
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (fixture / "expected").iterdir())
    not_transform = tmp_path / "projects" / "plain"
    workspace(
        not_transform, {"pit.toml": '[dag]\nname = "plain"\n[[tasks]]\nname = "a"\nscript = "a.sh"\n', "a.sh": ""}
    )
    refused = invoke("pit", "compile", "plain", "--project-dir", str(tmp_path))
    assert refused.stderr == 'Error: DAG "plain" is not a transform project (missing [dag.transform])\n'
    unknown = invoke("pit", "compile", "nope", "--project-dir", str(tmp_path))
    assert (unknown.exit_code, unknown.stderr) == (1, 'Error: DAG "nope" not found\n')
    (tmp_path / "projects" / "warehouse" / "models" / "bad.sql").write_text("select * from {{ ref 'nowhere' }}")
    broken = invoke("pit", "compile", "warehouse", "--project-dir", str(tmp_path))
    assert broken.exit_code == 1 and broken.stderr.endswith(
        'Error: compilation failed: building model DAG: model "bad" references unknown model "nowhere" via ref()\n'
    )


def test_sync_is_pits_placeholder() -> None:
    assert invoke("pit", "sync").stdout == "sync: not yet implemented\n"
