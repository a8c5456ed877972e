"""`trakt init NAME`: a new pipeline folder that runs as it is."""

from __future__ import annotations

from pathlib import Path

PIPELINE_YAML = """\
name: {name}
inputs:
  records: records.csv
steps:
  - id: transform
    uses: steps.transform
    with:
      input: records
      factor: {{const: 2}}
      output: records_out
outputs:
  datasets:
    - name: final
      from: records_out
dagster:
  input_dir: input
"""

TRANSFORM_PY = '''\
"""Multiply the `amount` column by `factor`."""

from trakt import step_contract


@step_contract(inputs=["input", "factor"], outputs=["output"])
def run(ctx, input, factor):
    result = input.copy()
    result["amount"] = result["amount"] * factor
    return {"output": result, "__metrics__": {"rows": len(result)}}
'''

SAMPLE_CSV = "id,amount\n1,10\n2,20\n3,30\n"


def scaffold_pipeline(folder: Path) -> Path:
    """Create `folder` with pipeline.yaml, steps/transform.py and input/records.csv.

    Example:
        >>> # scaffold_pipeline(Path("pipelines/my_pipeline"))
    """
    if folder.exists():
        raise FileExistsError(f"Directory '{folder}' already exists.")
    (folder / "steps").mkdir(parents=True)
    (folder / "input").mkdir()
    (folder / "pipeline.yaml").write_text(PIPELINE_YAML.format(name=folder.name), encoding="utf-8")
    (folder / "steps" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "steps" / "transform.py").write_text(TRANSFORM_PY, encoding="utf-8")
    (folder / "input" / "records.csv").write_text(SAMPLE_CSV, encoding="utf-8")
    return folder
