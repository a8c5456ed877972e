"""How loom pipelines look in Dagster: asset keys, deps, external sources, groups, kinds, tags (spec §6 rows 12, 13)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.loom.conftest import CONFIG, HEADER, ORDERS_FLOW, loom_folder
from trakt_dagster import build_definitions

READER = (
    HEADER
    + '''

class Enrich(ETLStep[P]):
    """Orders joined with the summary another pipeline writes."""

    orders = FromTable("raw.orders")
    summary = FromTable("mart.summary")
    customers = FromTable("crm.customers")
    target = IntoTable("mart.enriched")

    def execute(self, params: P, *, orders: pl.LazyFrame, summary: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame:
        return orders.join(summary, on="store", how="left")


class Audit(ETLStep[P]):
    customers = FromTable("crm.customers")
    target = IntoTable("mart.audit")

    def execute(self, params: P, *, customers: pl.LazyFrame) -> pl.LazyFrame:
        return customers


class Downstream(ETLProcess[P]):
    steps = [[Enrich, Audit]]


class Reader(ETLPipeline[P]):
    processes = [Downstream]
'''
)


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    root = tmp_path_factory.mktemp("graph")
    loom_folder(root, "orders", {"flow.py": ORDERS_FLOW})
    loom_folder(root, "reader", {"flow.py": READER})
    return build_definitions(root, runs_dir=str(root / "runs"))


def parents(graph, key: str) -> set[str]:
    return {p.to_user_string() for p in graph.get(dg.AssetKey.from_user_string(key)).parent_keys}


def test_assets_are_keyed_by_what_the_steps_write(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "raw/orders",
        "mart/stores",
        "mart/summary",
        "files/summary_csv",
        "files/orders_csv",  # a file no step writes: an external asset
        "mart/enriched",
        "mart/audit",
        "crm/customers",  # a table no pipeline writes: external, declared once for both readers
    }
    assert not graph.get(dg.AssetKey(["crm", "customers"])).is_materializable
    assert not graph.get(dg.AssetKey(["files", "orders_csv"])).is_materializable


def test_deps_follow_the_plan_and_table_lineage_across_pipelines(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert parents(graph, "raw/orders") == {"files/orders_csv"}
    assert parents(graph, "mart/stores") == {"raw/orders"}
    # Summary comes after the parallel group [Positive (temp, not an asset), Stores] and reads Positive's temp
    assert parents(graph, "mart/summary") == {"raw/orders", "mart/stores"}
    assert parents(graph, "files/summary_csv") == {"mart/summary"}
    # Reader's steps read tables of the orders pipeline: links to that pipeline's assets (row 12)
    assert parents(graph, "mart/enriched") == {"raw/orders", "mart/summary", "crm/customers"}
    assert parents(graph, "mart/audit") == {"crm/customers"}


def test_group_kinds_tags_descriptions_metadata_and_code_references(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["mart", "summary"]))
    assert node.group_name == "Nightly"
    assert set(node.kinds) == {"loom", "polars", "delta"}
    assert set(graph.get(dg.AssetKey(["files", "summary_csv"])).kinds) == {"loom", "polars", "csv"}
    assert node.tags["trakt/loom_process"] == "Daily"
    assert node.description == "Revenue per store of the positive orders."
    meta = node.metadata
    assert meta["trakt/task"] == "Summary" and meta["loom/process"] == "Daily" and "loom/step" not in meta
    assert meta["loom/sources"].value == ["positive: temp positive"]
    assert meta["dagster/table_name"] == "mart.summary"
    assert meta["loom/location"].endswith("pipelines/orders/lake/mart/summary")
    reference = meta["dagster/code_references"].code_references[0]
    source = Path(reference.file_path)
    assert source.name == "flow.py"
    assert source.read_text().splitlines()[reference.line_number - 1].startswith("class Summary(")
    stores = graph.get(dg.AssetKey(["mart", "stores"]))
    assert stores.description.startswith("loom step Stores (process Daily): writes table mart.stores")
    job = defs.resolve_job_def("Nightly")
    assert job.tags["trakt/tool"] == "loom"


def test_one_job_per_pipeline_subsettable_and_retry_policy(tmp_path: Path) -> None:
    loom_folder(
        tmp_path, "orders", {"flow.py": ORDERS_FLOW}, config=CONFIG + "dagster:\n  retries: 2\n  retry_delay: 1\n"
    )
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    job = defs.resolve_job_def("Nightly")
    node = job.graph.node_named("Nightly_pipeline")
    assert node.definition.retry_policy == dg.RetryPolicy(max_retries=2, delay=1.0)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.is_executable]
    assert len(assets) == 1 and assets[0].can_subset


SCHEDULED = CONFIG + "dagster:\n  pipelines:\n    Nightly: {schedule: {cron: '0 2 * * *', timezone: Europe/Berlin}}\n"


def test_per_pipeline_schedule(tmp_path: Path) -> None:
    loom_folder(tmp_path, "orders", {"flow.py": ORDERS_FLOW}, config=SCHEDULED)
    defs = build_definitions(tmp_path, runs_dir=str(tmp_path / "runs"))
    schedules = list(defs.schedules or ())
    assert [(s.cron_schedule, s.execution_timezone) for s in schedules] == [("0 2 * * *", "Europe/Berlin")]


def test_run_config_schema_follows_the_params_class(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("Nightly")
    config_type = job.run_config_schema.config_type
    ops = config_type.fields["ops"].config_type.fields["Nightly_pipeline"].config_type
    params = ops.fields["config"].config_type.fields["params"]
    fields = params.config_type.fields
    assert set(fields) == {"run_date", "fail", "region"}
    assert fields["run_date"].is_required and not fields["region"].is_required
    assert fields["region"].default_value == "eu"
    assert "a date, YYYY-MM-DD" in fields["run_date"].description


def test_importing_the_package_does_not_import_loom() -> None:
    import subprocess
    import sys

    code = (
        "import sys, trakt_dagster, trakt_dagster.cli, trakt_dagster.loom.frontend, trakt_dagster.loom.translate\n"
        "print(sorted(m for m in ('loom', 'polars', 'deltalake') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # loom's heavy stack loads only when a loom pipeline is found
