"""Orders API ingest: fetch orders and FX rates from the orders API, normalise, validate, quarantine, load.

A README-style flowrun `Pipeline` (the only change from flowrun's README code is the import line). The
two fetches are async with a per-attempt timeout and immediate retries; bad rows go to a quarantine file
instead of failing the run; the load writes `outputs/orders.csv` atomically.

Run it natively with `python pipelines/api_ingest/dag.py`, or on Dagster as job `api_ingest`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trakt_dagster.flowrun import Pipeline, RunContext, fn_hook

HERE = Path(__file__).resolve().parent
REQUIRED = ("order_id", "customer", "amount", "currency", "ordered_at")


class OrdersApi:
    """The orders API: pages of orders and a rates document, from `$ORDERS_API_URL` (HTTP) or, by
    default, the JSON files in `api/` (the same documents the API serves)."""

    def __init__(self, base_url: str | None, folder: Path, token: str) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.folder = folder
        self.token = token

    async def get(self, path: str) -> dict[str, Any]:
        if self.base_url is None:
            await asyncio.sleep(0.01)  # the network round trip
            return json.loads((self.folder / f"{path.replace('/', '_')}.json").read_text())
        request = urllib.request.Request(f"{self.base_url}/{path}", headers={"Authorization": f"Bearer {self.token}"})
        return await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(request, timeout=30).read()))


@dataclass(frozen=True)
class Deps:
    api: OrdersApi
    out_dir: Path
    api_token: str


def flowrun_context(metadata: dict[str, Any]) -> RunContext[Deps]:
    """The run's context (trakt-dagster calls this once per run; `metadata` comes from the run's tags)."""
    token = os.environ.get("ORDERS_API_TOKEN", "demo-token-not-secret")
    api = OrdersApi(os.environ.get("ORDERS_API_URL"), HERE / "api", token)
    return RunContext(Deps(api=api, out_dir=HERE / "outputs", api_token=token), metadata)


def _log_failure(event: Any) -> None:
    print(f"[api_ingest] task {event.task_name} failed on attempt {event.attempt}")


pipeline = Pipeline("api_ingest", max_parallel=3, hooks=[fn_hook(on_task_failure=_log_failure)])


@pipeline.task(timeout_s=10, retries=2)
async def fetch_orders(context: RunContext[Deps]) -> list[dict[str, Any]]:
    """Every page of orders from the API (async; 10 s per attempt, 2 immediate retries)."""
    orders: list[dict[str, Any]] = []
    page: int | None = 1
    while page:
        context.raise_if_cancelled()
        body = await context.api.get(f"orders/page_{page}")
        orders.extend(body["orders"])
        page = body.get("next_page")
    return orders


@pipeline.task(timeout_s=5, retries=2)
async def fetch_rates(context: RunContext[Deps]) -> dict[str, float]:
    """EUR exchange rates per currency from the API."""
    body = await context.api.get("rates")
    return {code.upper(): float(rate) for code, rate in body["eur_per_unit"].items()}


@pipeline.task()
def normalize(fetch_orders: list[dict[str, Any]], fetch_rates: dict[str, float]) -> list[dict[str, Any]]:
    """Orders with upper-case currency codes and amounts converted to EUR (unknown currency: amount_eur None)."""
    rows = []
    for order in fetch_orders:
        currency = str(order.get("currency") or "").upper()
        amount = order.get("amount")
        rate = fetch_rates.get(currency)
        amount_eur = round(float(amount) * rate, 2) if isinstance(amount, int | float) and rate else None
        rows.append({**order, "currency": currency, "amount_eur": amount_eur})
    return rows


@pipeline.task()
def validate(normalize: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Split rows into `valid` and `quarantine` (missing fields, negative or unconvertible amounts, duplicates)."""
    valid, quarantine, seen = [], [], set()
    for row in normalize:
        missing = [f for f in REQUIRED if row.get(f) in (None, "")]
        if missing:
            reason = f"missing {', '.join(missing)}"
        elif row["amount_eur"] is None:
            reason = f"cannot convert currency {row['currency']!r}"
        elif row["amount"] < 0:
            reason = "negative amount"
        elif row["order_id"] in seen:
            reason = "duplicate order_id"
        else:
            seen.add(row["order_id"])
            valid.append(row)
            continue
        quarantine.append({**row, "reason": reason})
    return {"valid": valid, "quarantine": quarantine}


def _replace(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


@pipeline.task()
def quarantine(validate: dict[str, list[dict[str, Any]]], context: RunContext[Deps]) -> dict[str, Any]:
    """Write the rejected rows, one JSON object per line, to outputs/quarantine.jsonl."""
    rows = validate["quarantine"]
    path = _replace(context.out_dir / "quarantine.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return {"path": str(path), "rows": len(rows)}


@pipeline.task()
def load_orders(validate: dict[str, list[dict[str, Any]]], context: RunContext[Deps]) -> dict[str, Any]:
    """Write the valid orders to outputs/orders.csv (replaced atomically)."""
    rows = validate["valid"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*REQUIRED, "amount_eur"], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["order_id"]))
    path = _replace(context.out_dir / "orders.csv", buffer.getvalue())
    return {"path": str(path), "rows": len(rows), "amount_eur": round(sum(r["amount_eur"] for r in rows), 2)}


@pipeline.task(deps=[load_orders, quarantine])
def summary(upstream: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts of loaded and quarantined rows (the run's headline numbers)."""
    return {
        "loaded": upstream["load_orders"]["rows"],
        "quarantined": upstream["quarantine"]["rows"],
        "amount_eur": upstream["load_orders"]["amount_eur"],
    }


async def main() -> None:
    async with pipeline:
        run_id = await pipeline.run_once(flowrun_context({"source": "cli"}))
        report = pipeline.get_run_report(run_id)
        print(report["status"], report["tasks"]["summary"]["result"])


if __name__ == "__main__":
    asyncio.run(main())
