"""Running on PostgreSQL as the README says: a real server started by the test, deploy/dagster.postgres.yaml."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO
from tests.e2e.conftest import run_cli


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise AssertionError(f"PostgreSQL's {name} is not installed (make test installs the 'postgresql' package)")
    return str(found)


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres_url() -> str:
    # Not under pytest's tmp folder: that one is private to root and the server runs as 'postgres'.
    data = Path(tempfile.mkdtemp(prefix="trakt-dagster-pg-"))
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(data), "-U", "dagster", "--auth=trust"]),
        check=True,
        capture_output=True,
    )
    log = data / "server.log"
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-o",
                f"-p {port} -h 127.0.0.1 -k {data}",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)]).returncode != 0:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"], check=True
        )
        yield f"postgresql+psycopg2://dagster@127.0.0.1:{port}/dagster"
    finally:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_runs_recorded_in_postgres(postgres_url: str, example_root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    env = {"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": postgres_url}
    ran = run_cli(
        ["trakt-dagster", "run", "customer_enrichment", "--root", str(example_root), "-q"], example_root, env=env
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    run_id = ran.stdout.split("run id: ", 1)[1].split()[0]
    os.environ["DAGSTER_PG_URL"] = postgres_url
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            run = instance.get_run_by_id(run_id)
            assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "customer_enrichment"
            materialized = instance.get_latest_materialization_event(
                dg.AssetKey(["customer_enrichment", "orders_enriched"])
            )
            assert materialized is not None and materialized.run_id == run_id
    finally:
        del os.environ["DAGSTER_PG_URL"]
