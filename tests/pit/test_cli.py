"""`trakt-dagster pit validate|run|logs|outputs|init` (spec §2.9), with .age secrets (row 42) on the way."""

from __future__ import annotations

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
        name = "orders"
        type = "table"
        location = "warehouse.sales.orders"
        [[outputs]]
        name = "weekly mail"
        type = "email"
        location = "mail://sales"
        recipients = "boss@example.com"
    """,
    "projects/sales/extract.sh": 'echo "extracting for $PIT_DAG_NAME"\n',
    "projects/sales/report.py": """
        from pit_sdk.secret import get_secret_field

        user = get_secret_field("db", "user")
        print("db user:", user, "length", len(user))
    """,
    "projects/broken/pit.toml": '[[tasks]]\nname = "a"\nscript = "gone.sh"\n',
}


@pytest.fixture(scope="module")
def root(tmp_path_factory, monkeypatch_module) -> Path:
    folder = workspace(tmp_path_factory.mktemp("cli"), PROJECTS)
    identity = pyrage.x25519.Identity.generate()
    secrets = b'[sales.db]\nuser = "report_reader"\npassword = "pw-never-shown-81"\n'
    (folder / "secrets.toml.age").write_bytes(pyrage.encrypt(secrets, [identity.to_public()]))
    monkeypatch_module.setenv("PIT_AGE_KEY", str(identity))
    monkeypatch_module.delenv("DAGSTER_HOME", raising=False)
    return folder


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_reports_the_broken_project(root: Path) -> None:
    result = invoke("pit", "validate", "--root", str(root))
    assert result.exit_code == 1
    assert 'task "a": script "gone.sh" not found' in result.output and "projects/broken/pit.toml" in result.output


def test_run_logs_and_age_secrets_row_42(root: Path) -> None:
    run = invoke("pit", "run", "sales", "--root", str(root), "-q")
    assert run.exit_code == 0, run.output
    assert "status: success" in run.output and "extract" in run.output and "report" in run.output
    logs = invoke("pit", "logs", "sales/report", "--root", str(root))
    # the task got the decrypted value (13 characters), which the log shows masked
    assert "db user: *** length 13" in logs.output and "report_reader" not in logs.output
    single = invoke("pit", "run", "sales/report", "--root", str(root), "-q")
    assert single.exit_code == 0 and "extract                        skipped" in single.output
    listed = invoke("pit", "logs", "sales", "--list", "--root", str(root))
    assert len(listed.output.strip().splitlines()) == 2
    all_logs = invoke("pit", "logs", "sales", "--root", str(root))
    assert "=== report (success) ===" in all_logs.output
    missing = invoke("pit", "run", "sales/nope", "--root", str(root))
    assert missing.exit_code == 1 and 'DAG "sales" has no task "nope"' in missing.output
    unknown = invoke("pit", "run", "salez", "--root", str(root))
    assert unknown.exit_code == 1 and 'DAG "salez" not found' in unknown.output


def test_outputs_filters(root: Path) -> None:
    everything = invoke("pit", "outputs", "--root", str(root))
    assert "warehouse.sales.orders" in everything.output and "boss@example.com" in everything.output
    tables = invoke("pit", "outputs", "--root", str(root), "--type", "table")
    assert "orders" in tables.output and "weekly mail" not in tables.output
    located = invoke("pit", "outputs", "--root", str(root), "--location", "mail://*")
    assert "weekly mail" in located.output and "warehouse.sales.orders" not in located.output


@pytest.mark.parametrize("kind", ["python", "shell", "sql", "dbt"])
def test_init_scaffolds_a_project_that_validates_and_runs(tmp_path: Path, kind: str, monkeypatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    created = invoke("pit", "init", "--type", kind, "--root", str(tmp_path), "demo")
    assert created.exit_code == 0 and (tmp_path / "projects" / "demo" / "pit.toml").is_file()
    again = invoke("pit", "init", "--type", kind, "--root", str(tmp_path), "demo")
    assert again.exit_code == 1 and "already exists" in again.output
    assert invoke("pit", "validate", "--root", str(tmp_path)).exit_code == 0
    if kind == "dbt":  # the scaffold names a warehouse secret; give it one
        (tmp_path / "pit_config.toml").write_text('secrets_dir = "secrets.toml"\n')
        (tmp_path / "secrets.toml").write_text('[demo.demo_warehouse]\ndatabase = "demo.duckdb"\n')
    run = invoke("pit", "run", "demo", "--root", str(tmp_path), "-q")
    assert run.exit_code == 0, run.output
    if kind == "python":
        assert "hello from hello" in invoke("pit", "logs", "demo/hello", "--root", str(tmp_path)).output
    if kind == "dbt":
        assert (tmp_path / "demo.duckdb").is_file()
