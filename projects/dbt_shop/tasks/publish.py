"""Export the revenue mart as CSV into the run's data/ folder for the finance share.

The warehouse file is read from the structured secret the dbt profile was generated from.
"""

import os
from pathlib import Path

import duckdb
from pit_sdk.secret import get_secret_field

database = Path(get_secret_field("shop_warehouse", "database"))
workspace = Path(os.environ["PIT_WORKSPACE_ROOT"])  # trakt-dagster sets it; relative paths resolve there
if not database.is_absolute():
    database = workspace / database
with duckdb.connect(str(database), read_only=True) as con:
    frame = con.execute("select * from customer_revenue order by revenue_eur desc").df()
target = Path(os.environ["PIT_DATA_DIR"]) / "customer_revenue.csv"
frame.to_csv(target, index=False)
print(f"published {len(frame)} customers to {target.name}; top: {frame.iloc[0]['customer_name']}")
