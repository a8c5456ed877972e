"""New pipelines of every kind, with sample data, that load and materialize as they are.

Used by `trakt-dagster init --type <tool> NAME` and by the Components' `dg scaffold defs` scaffolders. trakt's
and pit's samples are the ones their own `init` commands write (`trakt-dagster trakt init`,
`trakt-dagster pit init`).

Example:
    >>> # scaffold("flowrun", Path("."), "orders")   # -> pipelines/orders/dag.py + data
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

KINDS = ("trakt", "flowrun", "pit", "ductaflow", "loom")

ORDERS_CSV = "order_id,region,amount\n1,eu,10.5\n2,us,4.0\n3,eu,7.5\n4,apac,12.0\n"

FLOWRUN_DAG = '''\
"""{name}: read the sample orders, total them per region, write outputs/region_totals.csv."""

import csv
from pathlib import Path

from flowrun import build_default_engine

HERE = Path(__file__).resolve().parent
engine = build_default_engine(max_parallel=4)
dag = engine.dag("{name}")


@dag.task()
def orders():
    """The orders of data/orders.csv."""
    with open(HERE / "data" / "orders.csv", newline="") as fh:
        return [dict(row, amount=float(row["amount"])) for row in csv.DictReader(fh)]


@dag.task()
def region_totals(orders):
    """Revenue per region."""
    totals = {{}}
    for order in orders:
        totals[order["region"]] = totals.get(order["region"], 0.0) + order["amount"]
    return dict(sorted(totals.items()))


@dag.task(retries=1)
def write_totals(region_totals):
    """outputs/region_totals.csv."""
    out = HERE / "outputs"
    out.mkdir(exist_ok=True)
    with open(out / "region_totals.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "amount"])
        writer.writerows(region_totals.items())
    return str(out / "region_totals.csv")


# Dagster settings of this module's DAG (optional): one op per task instead of one per DAG.
# flowrun_dagster = {{"granularity": "step"}}
'''

DUCTAFLOW_FLOW = """\
# ---
# jupyter:
#   dagster:
#     timeout: 300
# ---

# %% [markdown]
# # Region totals
#
# Totals the sample orders of one region and writes `totals.csv` into the instance folder.

# %% tags=["parameters"]
config = {{}}

# %%
from ductaflow import unpack_config

vars().update(unpack_config(config, "Region totals", locals()))

# %%
import pandas as pd

orders = pd.read_csv(_project_root / "data" / "orders.csv")
selected = orders[orders["region"] == region]
selected.groupby("region", as_index=False)["amount"].sum().to_csv("totals.csv", index=False)
print(f"{{len(selected)}} {{region}} orders, {{selected['amount'].sum():.2f}} in total")
"""

LOOM_FLOW = '''\
"""{name}: load the sample orders into a Delta table, then total them per region."""

import polars as pl
from loom.etl import ETLParams, ETLPipeline, ETLProcess, ETLStep, Format, FromFile, FromTable, IntoTable


class Params(ETLParams):
    min_amount: float = 0.0


class LoadOrders(ETLStep[Params]):
    """The orders of input/orders.csv, as the table raw.orders."""

    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("raw.orders")

    def execute(self, params: Params, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        return orders.filter(pl.col("amount") >= params.min_amount)


class RegionTotals(ETLStep[Params]):
    """Revenue per region, as the table mart.region_totals."""

    orders = FromTable("raw.orders")
    target = IntoTable("mart.region_totals")

    def execute(self, params: Params, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        return orders.group_by("region").agg(pl.col("amount").sum()).sort("region")


class Daily(ETLProcess[Params]):
    steps = [LoadOrders, RegionTotals]


class {cls}(ETLPipeline[Params]):
    """The {name} pipeline."""

    processes = [Daily]
'''

LOOM_YAML = """\
storage:
  missing_table_policy: create
  defaults:
    table_path: {uri: lake}
  files:
    orders_csv: {path: {uri: input/orders.csv}}
observability:
  log: {enabled: false}
# Dagster settings (optional): one op per step, retries of each op.
# dagster:
#   granularity: step
#   retries: 1
"""


def _write(folder: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _new_folder(folder: Path) -> Path:
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} already exists and is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_name(name: str) -> str:
    """A pipeline name: letters, digits, `_` and `-`, starting with a letter.

    Example:
        >>> check_name("orders_daily")
        'orders_daily'
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
        raise ValueError(f"invalid name {name!r}: use letters, digits, '_' and '-', starting with a letter")
    return name


def scaffold(kind: str, root: Path, name: str) -> Path:
    """Write a `kind` pipeline called `name` under `root` (`pipelines/<name>/`, pit: `projects/<name>/`);
    returns its folder. Raises `FileExistsError` when it exists, `ValueError` on an unknown kind or bad name."""
    check_name(name)
    root = Path(root)
    if kind == "trakt":
        from trakt_dagster.trakt.scaffold import scaffold_pipeline

        return scaffold_pipeline(root / "pipelines" / name)
    if kind == "pit":
        from trakt_dagster.pit.scaffold import scaffold_project

        return scaffold_project(root, name, "python")
    folder = root / "pipelines" / name
    if kind == "flowrun":
        _write(_new_folder(folder), {"dag.py": FLOWRUN_DAG.format(name=name), "data/orders.csv": ORDERS_CSV})
    elif kind == "ductaflow":
        _write(
            _new_folder(folder),
            {
                "flows/region_totals.py": DUCTAFLOW_FLOW.format(),
                "config/flows/region_totals.json": '{\n  "region": "eu"\n}\n',
                "data/orders.csv": ORDERS_CSV,
            },
        )
    elif kind == "loom":
        cls = "".join(part.capitalize() for part in re.split(r"[_-]", name)) + "Pipeline"
        _write(
            _new_folder(folder),
            {
                "flow.py": LOOM_FLOW.format(name=name, cls=cls),
                "loom.yaml": LOOM_YAML,
                "input/orders.csv": ORDERS_CSV,
            },
        )
        (folder / "lake").mkdir()
    else:
        raise ValueError(f"unknown pipeline type {kind!r}: use {', '.join(KINDS)}")
    return folder
