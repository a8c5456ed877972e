# ---
# jupyter:
#   dagster:
#     deps: [prepare_demand]
# ---

# %% [markdown]
# # Summarise demand
#
# Reads the prepared demand of a sibling instance folder (`prepared_csv`, a relative path: the file
# system is the schema) and writes the peak, the total and whether the peak fits the capacity.

# %% tags=["parameters"]
config = {}

# %%
from ductaflow import is_notebook_execution, load_cli_config, unpack_config

if not is_notebook_execution():
    config = load_cli_config("config/flows/summarise_demand.json", "Summarise demand")
vars().update(unpack_config(config, "Summarise demand", locals()))

# %%
import json

import pandas as pd

demand = pd.read_csv(prepared_csv)
peak = float(demand["demand_mw"].max())
summary = {
    "region": str(demand["region"].iloc[0]),
    "hours": int(len(demand)),
    "peak_mw": peak,
    "total_mwh": float(demand["demand_mw"].sum()),
    "capacity_mw": capacity_mw,
    "fits_capacity": peak <= capacity_mw,
}
with open("summary.json", "w") as handle:
    json.dump(summary, handle, indent=2)
if not summary["fits_capacity"]:
    print(f"⚠️ peak demand {peak:.0f} MW exceeds the capacity of {capacity_mw} MW")
print(json.dumps(summary))
