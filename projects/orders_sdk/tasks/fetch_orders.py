"""Fetch the day's orders from the orders API's export (the JSON files in inbox/) into data/orders.parquet.

The API token comes from the secrets file through pit's SDK socket; it is checked, never printed.
"""

import json
from pathlib import Path

import pandas as pd
from pit_sdk import write_output
from pit_sdk.secret import get_secret

token = get_secret("orders_api_token")
if not token.startswith("demo-") and len(token) < 16:
    raise SystemExit("orders_api_token looks wrong: expected a 16+ character token")

rows = []
for path in sorted(Path("inbox").glob("*.json")):
    rows.extend(json.loads(path.read_text())["orders"])
orders = pd.DataFrame(rows, columns=["order_id", "customer", "amount", "currency"])
orders["amount"] = orders["amount"].astype(float)
print(f"fetched {len(orders)} orders from {orders['customer'].nunique()} customers")
write_output("orders", orders)
