"""Running pit DAGs through Dagster: real task processes, retries, timeouts, failure propagation, snapshots,
secrets and the SDK (spec §3; §6 rows 1, 3, 4, 6-10, 13, 30-33, 37-39, 43, 44)."""

from __future__ import annotations

import re
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb
import psutil
import pytest

from tests.pit.conftest import run_pit, workspace

SECRET = "s3cr3t-Value-9f2c1d"

SECRETS_TOML = f"""
    [global]
    warehouse = "duckdb:///warehouse.duckdb"
    other = "duckdb:///other.duckdb"

    [sdk]
    api_key = "{SECRET}"
"""


def test_retries_with_delay_one_log_and_one_run_id_row_3_and_pits_log_format_item_1(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/flaky/pit.toml": """
                [[tasks]]
                name = "flaky"
                script = "flaky.sh"
                retries = 2
                retry_delay = "1s"
            """,
            "projects/flaky/flaky.sh": """
                n=$(cat "$PIT_DATA_DIR/count" 2>/dev/null || echo 0)
                n=$((n + 1))
                echo "$n" > "$PIT_DATA_DIR/count"
                echo "attempt $n of run $PIT_RUN_ID at $(date +%s.%N)"
                [ "$n" -ge 3 ] || { echo "ERROR: not yet" >&2; exit 1; }
            """,
        },
    )
    run = run_pit(root, "flaky", instance)
    assert run.success and run.status("flaky") == "success"
    assert run.report["tasks"]["flaky"]["attempts"] == 3
    log = run.log("flaky")
    ids = re.findall(r"attempt (\d) of run (\S+) at (\S+)", log)
    assert [n for n, _, _ in ids] == ["1", "2", "3"] and len({rid for _, rid, _ in ids}) == 1
    run_id = ids[0][1]
    assert run_id == run.report["run_id"] and re.fullmatch(r"\d{8}_\d{6}\.\d{3}_flaky", run_id)
    starts = [float(at) for _, _, at in ids]
    assert all(b - a >= 1.0 for a, b in zip(starts, starts[1:]))
    # item 1: exactly what pit writes there: the task's stdout and stderr, and pit's line before each retry
    at = [at for _, _, at in ids]
    assert log == (
        f"attempt 1 of run {run_id} at {at[0]}\nERROR: not yet\n"
        "\n--- retry attempt 2/3 ---\n"
        f"attempt 2 of run {run_id} at {at[1]}\nERROR: not yet\n"
        "\n--- retry attempt 3/3 ---\n"
        f"attempt 3 of run {run_id} at {at[2]}\n"
    )
    # the Dagster log keeps its richer lines; attempts are in the metadata and the manifest (item 3)
    assert "[flaky] --- retry attempt 2/3 --- after TaskProcessError" in run.dagster_log_text()
    assert run.metadata_of("flaky")["pit/attempt"] == 3 and run.metadata_of("flaky")["pit/max_attempts"] == 3
    assert run.report["tasks"]["flaky"]["max_attempts"] == 3 and run.manifest["tasks"]["flaky"]["attempts"] == 3


def test_load_task_runs_once_row_4(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": SECRETS_TOML,
            "projects/ld/pit.toml": """
                [[tasks]]
                name = "ld"
                type = "load"
                source = "missing.parquet"
                table = "t"
                connection = "warehouse"
                retries = 3
            """,
        },
    )
    run = run_pit(root, "ld", instance)
    assert not run.success and run.status("ld") == "failed"
    assert run.manifest["tasks"]["ld"]["attempts"] == 1
    assert run.report["tasks"]["ld"]["error"] == "loading data: no file missing.parquet in the run's data folder"


def test_timeout_kills_the_whole_process_group_row_6(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/slow/pit.toml": '[[tasks]]\nname = "slow"\nscript = "slow.sh"\ntimeout = "3s"\n',
            "projects/slow/slow.sh": 'sleep 300 &\necho $! > "$PIT_DATA_DIR/child.pid"\nsleep 200\nwait\n',
        },
    )
    started = time.monotonic()
    run = run_pit(root, "slow", instance)
    assert time.monotonic() - started < 100  # generous: neither sleep was waited for
    assert not run.success and run.status("slow") == "failed"
    # pit's words for a task killed at its timeout; the Dagster side says why
    assert run.report["tasks"]["slow"]["error"] == f"shell runner {run.folder / 'project' / 'slow.sh'}: signal: killed"
    assert "timed out after 3s" in run.report["tasks"]["slow"]["detail"]
    child = int((run.folder / "data" / "child.pid").read_text())
    deadline = time.monotonic() + 60  # the group was killed; wait until the kernel is done with it
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the background child survived the timeout"
        time.sleep(0.05)


def test_dag_timeout_fails_running_and_later_tasks_row_7(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/dl/pit.toml": '[dag]\ntimeout = "1s"\n[[tasks]]\nname = "A"\nscript = "a.sh"\n'
            '[[tasks]]\nname = "B"\nscript = "b.sh"\ndepends_on = ["A"]\n',
            "projects/dl/a.sh": "sleep 3\n",
            "projects/dl/b.sh": "echo b\n",
        },
    )
    run = run_pit(root, "dl", instance)
    assert not run.success
    assert run.status("A") == "failed" and run.status("B") == "failed"  # not upstream_failed
    assert run.report["status"] == "failed"
    assert run.report["tasks"]["B"]["error"] == "context deadline exceeded"  # pit's (Go's) words
    assert not (run.folder / "logs" / "B.log").exists()  # never started: no log file (item 1)


def test_a_task_starts_when_its_own_deps_finish_row_8(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/nb/pit.toml": '[[tasks]]\nname = "A"\nscript = "a.sh"\n[[tasks]]\nname = "B"\nscript = "b.sh"\n'
            '[[tasks]]\nname = "C"\nscript = "c.sh"\ndepends_on = ["B"]\n',
            "projects/nb/a.sh": "sleep 3\n",
            "projects/nb/b.sh": "sleep 0.2\n",
            "projects/nb/c.sh": "echo c\n",
        },
    )
    run = run_pit(root, "nb", instance)
    assert run.success
    tasks = run.report["tasks"]
    a_start = datetime.fromisoformat(tasks["A"]["started_at"])
    c_start = datetime.fromisoformat(tasks["C"]["started_at"])
    a_end = datetime.fromisoformat(tasks["A"]["finished_at"])
    assert (c_start - a_start).total_seconds() < 2 and c_start < a_end  # no level barrier (N3)


CHAIN = {
    "projects/chain/pit.toml": """
        [[tasks]]
        name = "A"
        script = "fail.sh"
        [[tasks]]
        name = "B"
        script = "ok.sh"
        depends_on = ["A"]
        [[tasks]]
        name = "C"
        script = "ok.sh"
        depends_on = ["B"]
        [[tasks]]
        name = "D"
        script = "ok.sh"
        [[outputs]]
        name = "summary"
        type = "file"
        location = "/srv/summary.csv"
        recipients = "ops@example.com, cfo@example.com"
    """,
    "projects/chain/fail.sh": "echo boom\nexit 3\n",
    "projects/chain/ok.sh": 'echo "ok $PIT_TASK_NAME"\n',
}


def test_failure_marks_dependants_upstream_failed_row_9_and_outputs_only_on_success_row_39(
    tmp_path: Path, instance
) -> None:
    root = workspace(tmp_path, CHAIN)
    run = run_pit(root, "chain", instance)
    assert not run.success
    assert [run.status(t) for t in "ABCD"] == ["failed", "upstream_failed", "upstream_failed", "success"]
    assert run.report["tasks"]["A"]["error"] == f"shell runner {run.folder / 'project' / 'fail.sh'}: exit status 3"
    assert run.log("A") == "boom\n" and run.log("D") == "ok D\n"
    # item 1: tasks that never started have no log file; the Dagster log says why they were skipped
    assert not (run.folder / "logs" / "B.log").exists() and not (run.folder / "logs" / "C.log").exists()
    assert "Task 'B' skipped: upstream task 'A' failed" in run.dagster_log_text()
    assert run.report["outputs"] == [] and "chain/summary" not in run.materialized()
    assert "chain/D" in run.materialized() and "chain/B" not in run.materialized()


def test_single_task_run_and_successful_outputs_row_10(tmp_path: Path, instance) -> None:
    root = workspace(tmp_path, CHAIN)
    run = run_pit(root, "chain", instance, select=["C"])
    assert run.success
    assert run.status("C") == "success" and [run.status(t) for t in "ABD"] == ["skipped"] * 3
    assert run.materialized() == ["chain/C"]
    fixed = workspace(tmp_path / "fixed", {**CHAIN, "projects/chain/fail.sh": "echo fine\n"})
    full = run_pit(fixed, "chain", instance)
    assert full.success and "chain/summary" in full.materialized()
    assert [o["name"] for o in full.report["outputs"]] == ["summary"]
    assert full.manifest["outputs"]["summary"]["location"] == "/srv/summary.csv"
    # every [[outputs]] field as pit stores it: recipients stays the string written in pit.toml (item 4)
    written = {"name": "summary", "type": "file", "location": "/srv/summary.csv"}
    recipients = "ops@example.com, cfo@example.com"
    assert {k: full.report["outputs"][0][k] for k in (*written, "recipients")} == {**written, "recipients": recipients}
    (output,) = [
        e.event_specific_data.materialization
        for e in full.result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key.to_user_string() == "chain/summary"
    ]
    assert {k: v.value for k, v in output.metadata.items()} == {
        "pit/output": "summary",
        "pit/type": "file",
        "pit/location": "/srv/summary.csv",
        "pit/recipients": recipients,
    }


def test_concurrent_runs_have_their_own_socket_and_snapshot_row_13(tmp_path: Path) -> None:
    import dagster as dg

    root = workspace(
        tmp_path,
        {
            "projects/conc/pit.toml": '[[tasks]]\nname = "t"\nscript = "t.sh"\n',
            "projects/conc/t.sh": 'echo "socket=$PIT_SOCKET cwd=$PWD"\nsleep 1\n',
        },
    )
    runs = []

    def one() -> None:
        with dg.DagsterInstance.ephemeral() as inst:
            runs.append(run_pit(root, "conc", inst))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.success for r in runs)
    lines = [re.search(r"socket=(\S+) cwd=(\S+)", r.log("t")).groups() for r in runs]
    assert lines[0][0] != lines[1][0] and lines[0][1] != lines[1][1]
    spans = [
        (
            datetime.fromisoformat(r.report["tasks"]["t"]["started_at"]),
            datetime.fromisoformat(r.report["tasks"]["t"]["finished_at"]),
        )
        for r in runs
    ]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # they overlapped
    assert not any(Path(sock).exists() for sock, _ in lines)  # sockets removed after the run


def test_sdk_round_trip_secrets_and_redaction_rows_30_43_44(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": SECRETS_TOML,
            "projects/sdk/pit.toml": """
                [dag]
                name = "sdk"
                [[tasks]]
                name = "produce"
                script = "produce.py"
                [[tasks]]
                name = "consume"
                script = "consume.py"
                depends_on = ["produce"]
                [[tasks]]
                name = "leak"
                script = "leak.py"
            """,
            "projects/sdk/produce.py": """
                import pandas as pd
                from pit_sdk import write_output
                from pit_sdk.secret import get_secret

                key = get_secret("api_key")
                write_output("t", pd.DataFrame({"id": [1, 2, 3], "key_len": [len(key)] * 3}))
                print("wrote t")
            """,
            "projects/sdk/consume.py": """
                from pit_sdk import read_input

                table = read_input("t")
                print("rows", table.num_rows, "sum", sum(table.column("id").to_pylist()))
                try:
                    import pit_sdk.secrets
                except ModuleNotFoundError as exc:
                    print("as expected:", exc)
            """,
            "projects/sdk/leak.py": """
                from pit_sdk import get_secret

                raise RuntimeError("the key is " + get_secret("api_key"))
            """,
        },
    )
    run = run_pit(root, "sdk", instance)
    assert run.status("produce") == "success" and run.status("consume") == "success"
    assert "rows 3 sum 6" in run.log("consume")
    assert "No module named 'pit_sdk.secrets'" in run.log("consume")
    assert run.status("leak") == "failed" and not run.success
    audit = run.report["secret_audit"]
    assert {(a["key"], a["task"]) for a in audit} == {("api_key", "produce"), ("api_key", "leak")}
    # row 44: the secret appears nowhere the adapter writes: run folder, Dagster logs, metadata, failure
    texts = [p.read_text(errors="replace") for p in run.folder.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    texts.append(run.dagster_log_text())
    texts.extend(str(e.event_specific_data) for e in run.result.all_events)
    assert all(SECRET not in text for text in texts)
    assert "the key is ***" in run.log("leak")


def test_sql_stub_strict_and_task_connection_rows_1_31_32(tmp_path: Path, instance) -> None:
    files = {
        "projects/q/pit.toml": """
            [dag.sql]
            connection = "warehouse"
            [[tasks]]
            name = "c"
            script = "c.sql"
            [[tasks]]
            name = "own"
            script = "own.sql"
            connection = "other"
        """,
        "projects/q/c.sql": "create table if not exists t as select 42 as answer;\n",
        "projects/q/own.sql": "create table if not exists mine as select 7 as answer;\n",
    }
    stub_root = workspace(tmp_path / "stub", files)
    stub = run_pit(stub_root, "q", instance)
    assert stub.success
    script = stub.folder / "project" / "c.sql"
    assert stub.log("c") == (  # pit's stub lines, exactly
        "[sql-stub] would execute against configured connection:\n"
        f"--- {script} ---\ncreate table if not exists t as select 42 as answer;\n\n--- end ---\n"
    )
    assert "stub mode (no secrets file)" in stub.dagster_log_text()
    assert stub.metadata_of("c")["pit/sql_stub"] is True
    strict = run_pit(stub_root, "q", instance, config={"sql_stub": "error"})
    assert not strict.success and "sql_stub = 'error'" in strict.report["tasks"]["c"]["error"]

    real_root = workspace(
        tmp_path / "real", {**files, "pit_config.toml": 'secrets_dir = "secrets.toml"\n', "secrets.toml": SECRETS_TOML}
    )
    real = run_pit(real_root, "q", instance)
    assert real.success and real.metadata_of("c")["pit/sql_stub"] is False
    assert re.fullmatch(
        rf"\[sql\] {re.escape(str(real.folder / 'project' / 'c.sql'))} executed in \S+ \(\d+ rows affected\)\n",
        real.log("c"),
    )
    assert duckdb.connect(str(real_root / "warehouse.duckdb")).execute("select answer from t").fetchall() == [(42,)]
    # N11: the task-level connection is honoured
    assert duckdb.connect(str(real_root / "other.duckdb")).execute("select answer from mine").fetchall() == [(7,)]


def test_save_then_load_through_the_data_folder(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": SECRETS_TOML,
            "projects/etl/pit.toml": """
                [[tasks]]
                name = "seed"
                script = "seed.sql"
                connection = "warehouse"
                [[tasks]]
                name = "export"
                type = "save"
                script = "export.sql"
                output = "big.parquet"
                connection = "warehouse"
                depends_on = ["seed"]
                [[tasks]]
                name = "import"
                type = "load"
                source = "big.parquet"
                table = "stg.big"
                mode = "create_or_replace"
                connection = "other"
                depends_on = ["export"]
            """,
            "projects/etl/seed.sql": "create or replace table src as select range as n from range(5);\n",
            "projects/etl/export.sql": "select n, n * n as sq from src where n > 1\n",
        },
    )
    run = run_pit(root, "etl", instance)
    assert run.success, run.report
    assert run.metadata_of("export")["dagster/row_count"] == 3 and run.metadata_of("import")["dagster/row_count"] == 3
    rows = duckdb.connect(str(root / "other.duckdb")).execute("select n, sq from stg.big order by n").fetchall()
    assert rows == [(2, 4), (3, 9), (4, 16)]


def test_names_env_and_log_files_use_the_originals_row_33(tmp_path: Path, instance) -> None:
    names = ["load-orders", "load_orders", "stg.orders"]
    toml = "".join(f'[[tasks]]\nname = "{n}"\nscript = "t.sh"\n' for n in names)
    root = workspace(
        tmp_path,
        {"projects/names/pit.toml": toml, "projects/names/t.sh": 'echo "name=$PIT_TASK_NAME dag=$PIT_DAG_NAME"\n'},
    )
    run = run_pit(root, "names", instance)
    assert run.success
    for name in names:
        assert (run.folder / "logs" / f"{name}.log").is_file()
        assert f"name={name} dag=names" in run.log(name)
    assert run.metadata_of("load_orders")["pit/run_id"] == run.report["run_id"]


def test_snapshot_skips_vcs_caches_venvs_and_symlinks_row_38(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/snap/pit.toml": '[[tasks]]\nname = "t"\nscript = "t.sh"\n',
            "projects/snap/t.sh": "ls -a\n",
            "projects/snap/.git/HEAD": "ref\n",
            "projects/snap/node_modules/x/index.js": "//\n",
            "projects/snap/.venv/bin/python": "#\n",
            "projects/snap/pkg/__pycache__/m.pyc": "#\n",
            "projects/snap/pkg/m.py": "x = 1\n",
        },
    )
    (root / "projects/snap/link.sh").symlink_to(root / "projects/snap/t.sh")
    run = run_pit(root, "snap", instance)
    assert run.success
    project = run.folder / "project"
    copied = {p.relative_to(project).as_posix() for p in project.rglob("*")}
    assert {"pit.toml", "t.sh", "pkg", "pkg/m.py"} <= copied
    assert not any(part in c for c in copied for part in (".git", "node_modules", ".venv", "__pycache__", "link.sh"))


def test_keep_artifacts_removes_the_rest_after_the_run_row_37(tmp_path: Path, instance) -> None:
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'keep_artifacts = ["data"]\n',
            "projects/keep/pit.toml": '[dag]\nkeep_artifacts = ["logs"]\n[[tasks]]\nname = "t"\nscript = "t.sh"\n',
            "projects/keep/t.sh": 'echo x > "$PIT_DATA_DIR/x.txt"\n',
            "projects/ws/pit.toml": '[[tasks]]\nname = "t"\nscript = "t.sh"\n',
            "projects/ws/t.sh": 'echo x > "$PIT_DATA_DIR/x.txt"\n',
        },
    )
    own = run_pit(root, "keep", instance)
    assert own.success and (own.folder / "logs").is_dir()
    assert not (own.folder / "data").exists() and not (own.folder / "project").exists()
    assert (own.folder / "manifest.json").is_file()
    ws = run_pit(root, "ws", instance)
    assert (ws.folder / "data" / "x.txt").is_file() and not (ws.folder / "logs").exists()


def test_python_tasks_run_with_uv_in_projects_with_a_pyproject_row_1(tmp_path: Path, instance, monkeypatch) -> None:
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    monkeypatch.setenv("UV_OFFLINE", "1")
    root = workspace(
        tmp_path,
        {
            "projects/uvp/pit.toml": '[[tasks]]\nname = "a"\nscript = "a.py"\n',
            "projects/uvp/pyproject.toml": '[project]\nname = "uvp"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n'
            "dependencies = []\n",
            "projects/uvp/a.py": "import sys\nprint('prefix', sys.prefix)\n",
            "projects/plain/pit.toml": '[[tasks]]\nname = "a"\nscript = "a.py"\n',
            "projects/plain/a.py": "import sys\nprint('prefix', sys.prefix)\n",
        },
    )
    run = run_pit(root, "uvp", instance)
    assert run.success, run.report["tasks"]["a"]
    assert f"prefix {root / 'projects' / 'uvp' / '.venv'}" in run.log("a")  # the source project's virtualenv
    plain = run_pit(root, "plain", instance)
    assert plain.success and f"prefix {sys.prefix}" in plain.log("a")


def test_git_backed_project_runs_from_the_repo_cache_k18(tmp_path: Path, instance) -> None:
    import subprocess

    source = workspace(
        tmp_path / "src", {"pit.toml": '[[tasks]]\nname = "t"\nscript = "t.sh"\n', "t.sh": "echo from git v1\n"}
    )
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "v1"],
    ):
        subprocess.run(["git", *args], cwd=source, check=True)
    root = workspace(
        tmp_path / "ws",
        {
            "projects/g/pit.toml": f'[dag]\ngit_url = "{source.as_uri()}"\ngit_ref = "main"\n[[tasks]]\nname = "t"\nscript = "t.sh"\n'
        },
    )
    run = run_pit(root, "g", instance)
    assert run.success and "from git v1" in run.log("t")
    assert (root / "repo_cache" / "g" / "t.sh").is_file()


@pytest.fixture(scope="module")
def postgres_port():
    from tests.servers import postgres_server

    with postgres_server("pit", "warehouse") as port:
        yield port


@pytest.mark.slow
def test_sql_load_and_save_on_postgresql(tmp_path: Path, instance, postgres_port: int) -> None:
    import psycopg2

    url = f"postgresql://pit@127.0.0.1:{postgres_port}/warehouse"
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": f'[pg]\nwh = "{url}"\n',
            "projects/pg/pit.toml": """
                [dag.sql]
                connection = "wh"
                [[tasks]]
                name = "ddl"
                script = "ddl.sql"
                [[tasks]]
                name = "export"
                type = "save"
                script = "export.sql"
                output = "rates.parquet"
                connection = "wh"
                depends_on = ["ddl"]
                [[tasks]]
                name = "reload"
                type = "load"
                source = "rates.parquet"
                table = "mart.rates"
                mode = "truncate_and_load"
                connection = "wh"
                depends_on = ["export"]
            """,
            "projects/pg/ddl.sql": "create table if not exists rates (code text primary key, eur numeric);\n"
            "delete from rates;\ninsert into rates values ('USD', 0.92), ('GBP', 1.17);\n",
            "projects/pg/export.sql": "select code, cast(eur as float) as eur from rates order by code\n",
        },
    )
    for _ in range(2):  # truncate_and_load: the second run replaces the rows instead of doubling them
        run = run_pit(root, "pg", instance)
        assert run.success, run.report
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select code, eur from mart.rates order by code")
        assert cur.fetchall() == [("GBP", 1.17), ("USD", 0.92)]
    assert f"[sql] {run.folder / 'project' / 'ddl.sql'} executed in" in run.log("ddl")
