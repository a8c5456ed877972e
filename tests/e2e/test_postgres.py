"""Running on PostgreSQL as the README says: a real server started by the test, deploy/dagster.postgres.yaml."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO
from tests.e2e.conftest import run_cli
from tests.servers import postgres_server


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server("dagster", "dagster") as port:
        yield f"postgresql+psycopg2://dagster@127.0.0.1:{port}/dagster"


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
