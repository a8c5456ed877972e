# %% [markdown]
# # Demand scenarios conductor
#
# Runs `builds/forecast_build.py` for every combination of growth rate and region (2 x 2 scenarios).
# On Dagster the grid is the partitions of the `forecast_build` asset: a backfill is this loop, in
# parallel; here it runs the scenarios one after the other, as ductaflow's own conductor does.

# %%
import json
from datetime import datetime
from itertools import product
from pathlib import Path

from ductaflow import generate_status_report, run_notebook

model_root = Path("runs/conductor_runs")

base_config = {
    "years": 2,
    "capacity_mw": 1100,
}

scenario_dimensions = {
    "growth": [
        {"growth": 0.02, "label": "LowGrowth"},
        {"growth": 0.09, "label": "HighGrowth"},
    ],
    "region": [
        {"region": "North", "label": "North"},
        {"region": "South", "label": "South"},
    ],
}
active_dimensions = ["growth", "region"]

# %%
scenarios = []
for combination in product(*(scenario_dimensions[d] for d in active_dimensions)):
    scenario = {k: v for option in combination for k, v in option.items() if k != "label"}
    scenario["scenario_name"] = "Scenario_" + "_".join(option["label"] for option in combination)
    scenarios.append(scenario)

# %%
results = []
for scenario in scenarios:
    name = scenario["scenario_name"]
    scenario_config = {**base_config, **scenario, "run_folder": f"runs/{name}"}
    output_dir = model_root / "Model_Runs" / name
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "config.json").write_text(json.dumps(scenario_config, indent=2))
    started = datetime.now()
    try:
        run_notebook(
            notebook_file="builds/forecast_build.py",
            config=scenario_config,
            execution_dir=output_dir,
            project_root=Path.cwd(),
        )
        minutes = (datetime.now() - started).total_seconds() / 60
        results.append({"scenario": name, "status": "success", "duration_minutes": minutes})
    except Exception as exc:
        results.append({"scenario": name, "status": "failed", "error": str(exc)})
    Path("runs/conductor_status_report.html").write_text(generate_status_report(results, model_root))

(model_root / "conductor_results.json").write_text(json.dumps({"results": results}, indent=2))
