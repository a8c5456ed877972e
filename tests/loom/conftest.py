"""Helpers for loom tests: write loom pipeline folders (module + loom.yaml + input CSV), run them through Dagster.

Every folder has a real Delta lake (`lake/`), real input files and an `out/` folder for IntoFile targets;
its loom.yaml uses relative paths (relative to the folder) and `missing_table_policy: create`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from tests.conftest import DagRun, write_files
from trakt_dagster import build_definitions
from trakt_dagster.core.names import dagster_name

ORDERS_CSV = "order_id,store,amount,status\n1,s1,10.5,paid\n2,s2,-3.0,refund\n3,s1,4.5,paid\n4,s3,7.0,paid\n"

CONFIG = """
storage:
  missing_table_policy: create
  defaults:
    table_path: {uri: lake}
  files:
    orders_csv: {path: {uri: input/orders.csv}}
    summary_csv: {path: {uri: "out/summary_{run_date}.csv"}}
observability:
  log: {enabled: false}
"""

HEADER = """
from datetime import date
from pathlib import Path
import threading

import polars as pl
from loom.etl import *

HERE = Path(__file__).parent


class P(ETLParams):
    run_date: date
    fail: str = ""
    region: str = "eu"


def note(name):
    with open(HERE / "calls.txt", "a") as fh:
        fh.write(name + "\\n")


def maybe_fail(params, name):
    note(name)
    if name in params.fail.split(","):
        raise RuntimeError(f"boom in {name}")
    flag = HERE / f"fail_once_{name}"
    if flag.exists():
        flag.unlink()
        raise RuntimeError(f"transient failure in {name}")
"""

ORDERS_FLOW = (
    HEADER
    + '''

class LoadOrders(ETLStep[P]):
    """Load the shop's orders CSV into raw.orders."""

    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("raw.orders")

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "LoadOrders")
        return orders


class Positive(ETLStep[P]):
    """Orders with a positive amount (a RUN temp)."""

    orders = FromTable("raw.orders")
    target = IntoTemp("positive")

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Positive")
        return orders.filter(pl.col("amount") > 0)


class Stores(ETLStep[P]):
    orders = FromTable("raw.orders")
    target = IntoTable("mart.stores")

    def execute(self, params: P, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Stores")
        return orders.group_by("store").agg(pl.len().alias("orders")).sort("store")


class Summary(ETLStep[P]):
    """Revenue per store of the positive orders."""

    positive = FromTemp("positive")
    target = IntoTable("mart.summary")

    def execute(self, params: P, *, positive: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Summary")
        return positive.group_by("store").agg(pl.col("amount").sum().alias("revenue")).sort("store")


class Export(ETLStep[P]):
    summary = FromTable("mart.summary")
    target = IntoFile.alias("summary_csv", format=Format.CSV)

    def execute(self, params: P, *, summary: pl.LazyFrame) -> pl.LazyFrame:
        maybe_fail(params, "Export")
        return summary


class Daily(ETLProcess[P]):
    steps = [LoadOrders, [Positive, Stores], Summary, Export]


class Nightly(ETLPipeline[P]):
    """The nightly orders pipeline."""

    processes = [Daily]
'''
)


def loom_folder(root: Path, name: str, files: Mapping[str, str], config: str = CONFIG) -> Path:
    """`pipelines/<name>/` with `files` (module sources, dedented), loom.yaml, input/orders.csv, lake/ and out/."""
    folder = root / "pipelines" / name
    write_files(folder, {"loom.yaml": config, **files})
    (folder / "input").mkdir(exist_ok=True)
    (folder / "input" / "orders.csv").write_text(ORDERS_CSV)
    (folder / "lake").mkdir(exist_ok=True)
    (folder / "out").mkdir(exist_ok=True)
    return folder


def module(text: str) -> str:
    return textwrap.dedent(text)


@dataclass
class LoomRun(DagRun):
    """One `execute_in_process` run of a loom pipeline's job (`dag` is the pipeline class name)."""

    def tasks(self) -> dict[str, str]:
        return {key: state["status"] for key, state in self.manifest["tasks"].items()}

    def materializations(self) -> dict[str, dict[str, Any]]:
        found = {}
        for event in self.result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            found[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
        return found

    def messages(self) -> list[str]:
        return self.log_messages()

    def failure(self) -> str:
        failures = [e for e in self.result.all_events if e.is_step_failure]
        return "\n".join(f.step_failure_data.error.message for f in failures if f.step_failure_data.error)


def run_loom(
    root: Path,
    pipeline: str,
    instance: dg.DagsterInstance,
    *,
    params: Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    partition: str | None = None,
    correlation_id: str | None = None,
    resources: Mapping[str, Any] | None = None,
    only: bool = False,
    granularity: str | None = None,
) -> LoomRun:
    """Build the root's definitions (`only`: just this pipeline's, when others are broken) and execute one
    loom pipeline's job (`select`: asset keys as `a/b`)."""
    runs_dir = root / "runs"
    if only:
        from trakt_dagster.core.builder import build_graph_definitions
        from trakt_dagster.core.definitions import load_graphs
        from trakt_dagster.core.resources import RunStorage

        graph = next(g for g in load_graphs(root)[0] if g.name == pipeline)
        defs = build_graph_definitions(graph, run_storage=RunStorage(runs_dir=str(runs_dir)), resources=resources)
    else:
        defs = build_definitions(root, runs_dir=str(runs_dir), resources=resources, granularity=granularity)
    job = defs.resolve_job_def(dagster_name(pipeline))
    op_config: dict[str, Any] = {"params": dict(params or {})}
    if correlation_id:
        op_config["correlation_id"] = correlation_id
    run_config = {
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "ops": {node.name: {"config": op_config} for node in job.graph.nodes},
    }
    selection = [dg.AssetKey.from_user_string(k) for k in select] if select else None
    result = job.execute_in_process(
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
        asset_selection=selection,
        partition_key=partition,
    )
    return LoomRun(result, root, pipeline, instance)


def calls(folder: Path) -> list[str]:
    """The steps that ran since the last call (each step notes its name), then forget them."""
    path = folder / "calls.txt"
    found = path.read_text().split() if path.exists() else []
    path.write_text("")
    return found


def table(folder: Path, ref: str) -> pl.DataFrame:
    return pl.read_delta(str(folder / "lake" / ref.replace(".", "/")))
