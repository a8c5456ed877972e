# %% [markdown]
# # Forecast build
#
# Prepares one scenario's demand, then summarises it: two flows in sequence, each in its own folder
# below this build's folder (`runs/<flow>_instance/`); the second reads the first one's output.

# %% tags=["parameters"]
config = {}

# %%
from ductaflow import run_notebook, unpack_config

vars().update(unpack_config(config, "Forecast build", locals()))
flows = _project_root / "flows"

# %%
run_notebook(
    flows / "prepare_demand.py",
    config=config,
    execution_dir="runs/prepare_demand_instance",
    project_root=_project_root,
)

# %%
summary_config = {**config, "prepared_csv": "../prepare_demand_instance/demand.csv"}
run_notebook(
    flows / "summarise_demand.py",
    config=summary_config,
    execution_dir="runs/summarise_demand_instance",
    project_root=_project_root,
)
print(f"forecast of {scenario_name} done")
