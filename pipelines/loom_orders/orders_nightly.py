"""Nightly orders: the shop's CSV exports into Delta tables, one day's sales per region, and a CSV report.

A loom.etl pipeline as a loom user writes it (loom-kernel 9, Polars backend); trakt-dagster runs it
unchanged. Its runner config is `loom.yaml` beside this module: the lake under `lake/`, the input files
and the report under `storage.files` aliases, and the adapter's `dagster:` settings (daily partitions on
`run_date`).
"""

from datetime import date

import polars as pl
from loom.etl import (
    ETLParams,
    ETLPipeline,
    ETLProcess,
    ETLStep,
    Format,
    FromFile,
    FromTable,
    FromTemp,
    IntoFile,
    IntoTable,
    IntoTemp,
    col,
    params,
)


class OrdersParams(ETLParams):
    run_date: date
    min_amount: float = 0.0
    currency: str = "EUR"


# -- ingest: CSV files -> Delta tables (in parallel) -----------------------------------------------
class LoadOrders(ETLStep[OrdersParams]):
    """Raw orders of every day from the shop's CSV export, with typed dates and amounts."""

    orders = FromFile.alias("orders_csv", format=Format.CSV)
    target = IntoTable("raw.orders")

    def execute(self, params: OrdersParams, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        return orders.with_columns(
            pl.col("order_date").str.to_date("%Y-%m-%d"),
            pl.col("amount").cast(pl.Float64),
        )


class LoadStores(ETLStep[OrdersParams]):
    """The store master data (id, name, region, country)."""

    stores = FromFile.alias("stores_csv", format=Format.CSV)
    target = IntoTable("raw.stores")

    def execute(self, params: OrdersParams, *, stores: pl.LazyFrame) -> pl.LazyFrame:
        return stores


# -- transform: two transforms in parallel, one through a RUN temp, then the summary ---------------
class CleanOrders(ETLStep[OrdersParams]):
    """Paid orders of the run date above the minimum amount (kept as a temp for the summary only)."""

    orders = FromTable("raw.orders").where(col("order_date") == params.run_date)
    target = IntoTemp("paid_orders")

    def execute(self, params: OrdersParams, *, orders: pl.LazyFrame) -> pl.LazyFrame:
        return orders.filter((pl.col("status") == "paid") & (pl.col("amount") > params.min_amount))


class StoreRegions(ETLStep[OrdersParams]):
    """Which region each store belongs to."""

    stores = FromTable("raw.stores")
    target = IntoTable("staging.store_regions")

    def execute(self, params: OrdersParams, *, stores: pl.LazyFrame) -> pl.LazyFrame:
        return stores.select("store_id", "region", "country")


class DailySummary(ETLStep[OrdersParams]):
    """Paid sales of the run date per region: orders, revenue and average order value."""

    paid = FromTemp("paid_orders")
    regions = FromTable("staging.store_regions")
    target = IntoTable("mart.daily_sales")

    def execute(self, params: OrdersParams, *, paid: pl.LazyFrame, regions: pl.LazyFrame) -> pl.LazyFrame:
        return (
            paid.join(regions, on="store_id", how="left")
            .group_by("region")
            .agg(
                pl.len().alias("orders"),
                pl.col("amount").sum().round(2).alias("revenue"),
                pl.col("amount").mean().round(2).alias("avg_order_value"),
            )
            .with_columns(pl.lit(params.run_date).alias("sales_date"), pl.lit(params.currency).alias("currency"))
            .sort("region")
        )


# -- publish: the report, named after the run date -------------------------------------------------
class ExportSummary(ETLStep[OrdersParams]):
    """The day's report as CSV: exports/daily_sales_<run_date>.csv (a storage.files alias)."""

    sales = FromTable("mart.daily_sales")
    target = IntoFile.alias("daily_sales_report", format=Format.CSV)

    def execute(self, params: OrdersParams, *, sales: pl.LazyFrame) -> pl.LazyFrame:
        return sales.select("sales_date", "region", "orders", "revenue", "avg_order_value", "currency")


class Ingest(ETLProcess[OrdersParams]):
    steps = [[LoadOrders, LoadStores]]


class Transform(ETLProcess[OrdersParams]):
    steps = [[CleanOrders, StoreRegions], DailySummary]


class Publish(ETLProcess[OrdersParams]):
    steps = [ExportSummary]


class OrdersNightly(ETLPipeline[OrdersParams]):
    """Nightly orders: load the CSV exports, summarise the day's paid sales per region, publish a report."""

    processes = [Ingest, Transform, Publish]
