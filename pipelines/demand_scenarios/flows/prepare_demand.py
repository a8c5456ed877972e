# ---
# jupyter:
#   dagster:
#     timeout: 300
# ---

# %% [markdown]
# # Prepare demand
#
# Scales one region's hourly demand history by the scenario's yearly growth rate.
# Writes `demand.csv` into the instance folder, where other flows find it by relative path.

# %% tags=["parameters"]
config = {}

# %%
from ductaflow import is_notebook_execution, load_cli_config, unpack_config

if not is_notebook_execution():  # run as a script: python flows/prepare_demand.py --config ...
    config = load_cli_config("config/flows/prepare_demand.json", "Prepare demand")
vars().update(unpack_config(config, "Prepare demand", locals()))

# %%
import pandas as pd

history = pd.read_csv(_project_root / "data" / "demand_history.csv")
regional = history[history["region"] == region].copy()
regional["demand_mw"] = (regional["demand_mw"] * (1 + growth) ** years).round(1)
regional.to_csv("demand.csv", index=False)
print(f"{len(regional)} hours of {region} demand, growth {growth:.0%} over {years} year(s)")
