"""A pit project with a dbt task on Dagster: dbt-duckdb through dagster-dbt, one asset per model, tests as
asset checks, pit tasks before and after it (§3.2 dbt runner, K19)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.pit.conftest import load_errors, run_pit, workspace
from trakt_dagster import build_definitions
from trakt_dagster.pit.metadata import PitDbtMetadataSet

PROJECT = {
    "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
    "secrets.toml": '[shop.warehouse]\ndatabase = "warehouse.duckdb"\nschema = "main"\n',
    "projects/shop/pit.toml": """
        [dag]
        name = "shop"
        [dag.dbt]
        version = "1.11.0"
        adapter = "dbt-duckdb"
        project_dir = "dbt"
        connection = "warehouse"
        [[tasks]]
        name = "prepare"
        script = "prepare.sh"
        [[tasks]]
        name = "transform"
        runner = "dbt"
        script = "build"
        depends_on = ["prepare"]
        [[tasks]]
        name = "announce"
        script = "announce.sh"
        depends_on = ["transform"]
    """,
    "projects/shop/prepare.sh": "echo preparing\n",
    "projects/shop/announce.sh": "echo done\n",
    "projects/shop/dbt/dbt_project.yml": 'name: shop\nversion: "1.0.0"\nprofile: shop\nmodel-paths: ["models"]\n'
    'seed-paths: ["seeds"]\n',
    "projects/shop/dbt/seeds/raw_orders.csv": "id,amount\n1,5\n2,7\n3,-1\n",
    "projects/shop/dbt/models/stg_orders.sql": "select id, amount from {{ ref('raw_orders') }}\n",
    "projects/shop/dbt/models/big_orders.sql": "select id, amount from {{ ref('stg_orders') }} where amount > {{ var('min', 0) }}\n",
    "projects/shop/dbt/models/schema.yml": """
        version: 2
        models:
          - name: big_orders
            columns:
              - name: id
                tests: [not_null, unique]
              - name: amount
                tests:
                  - accepted_values:
                      arguments: {values: [5, 7]}
                      config: {severity: warn}
    """,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return workspace(tmp_path_factory.mktemp("dbt"), PROJECT)


def test_dbt_models_are_assets_with_checks(root: Path) -> None:
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "shop/prepare",
        "shop/transform",
        "shop/announce",
        "shop/raw_orders",
        "shop/stg_orders",
        "shop/big_orders",
    } <= keys
    big = graph.get(dg.AssetKey(["shop", "big_orders"]))
    assert {k.to_user_string() for k in big.parent_keys} == {"shop/prepare", "shop/stg_orders"}
    assert {"dbt", "duckdb"} <= set(big.kinds)
    checks = {c.name for c in graph.asset_check_keys if c.asset_key == big.key}
    assert len(checks) == 3 and any(name.startswith("not_null") for name in checks)
    # dbt's own keys are the fields of pit's dbt set, read back typed
    dbt = PitDbtMetadataSet.extract(big.metadata)
    assert (dbt.unique_id, dbt.materialized) == ("model.shop.big_orders", "view")
    assert {k for k in big.metadata if k.startswith("dbt/")} == set(dbt.keys())


def test_dbt_build_runs_between_pit_tasks(root: Path, instance) -> None:
    run = run_pit(root, "shop", instance)
    assert run.success, run.report
    assert [run.status(t) for t in ("prepare", "transform", "announce")] == ["success"] * 3
    assert {"shop/raw_orders", "shop/stg_orders", "shop/big_orders", "shop/transform"} <= set(run.materialized())
    rows = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True).execute(
        "select id from big_orders order by id"
    )
    assert rows.fetchall() == [(1,), (2,)]
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in run.result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert len(checks) == 3 and all(checks.values())
    runs = {
        e.materialization.asset_key.path[-1]: e.materialization.metadata
        for e in run.result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    for meta in runs.values():  # a run's dbt keys too, beside Dagster's row count
        assert {k for k in meta if k.startswith("dbt/")} == set(PitDbtMetadataSet.extract(meta).keys())
    big = PitDbtMetadataSet.extract(runs["big_orders"])
    assert (big.status, big.unique_id) == ("success", "model.shop.big_orders") and big.execution_time_s >= 0
    assert "OK model big_orders" in run.log("transform")


def test_failing_model_fails_the_dbt_task_and_its_dependants(tmp_path: Path, instance) -> None:
    broken = {**PROJECT, "projects/shop/dbt/models/big_orders.sql": "select id, amount from missing_table\n"}
    root = workspace(tmp_path, broken)
    run = run_pit(root, "shop", instance)
    assert not run.success
    assert run.status("transform") == "failed" and run.status("announce") == "upstream_failed"
    assert "big_orders" in run.report["tasks"]["transform"]["error"]
    assert "shop/stg_orders" in run.materialized() and "shop/big_orders" not in run.materialized()


def test_dbt_project_errors_are_load_errors(tmp_path: Path) -> None:
    bad = {**PROJECT, "projects/shop/dbt/models/stg_orders.sql": "select {{ ref('raw_orders' }}\n"}
    text = load_errors(workspace(tmp_path, bad))
    assert "dbt project of task 'transform'" in text and "stg_orders.sql" in text
