"""The built-in quality gate step (`uses: trakt.steps.quality_gate`).

Example:
    ```yaml
    - id: gate
      uses: trakt.steps.quality_gate
      with:
        input: records
        policy: {const: {mode: fail, unique_keys: [id], max_null_ratio: {amount: 0.1}}}
        output: records_checked
    ```
"""

from typing import Any

from trakt_dagster.trakt.contract import step_contract
from trakt_dagster.trakt.policies import evaluate_quality_gates


@step_contract(inputs=["input", "policy"], outputs=["output"], supports_batch=True, supports_stream=False)
def run(ctx: Any, input: Any, policy: Any) -> dict[str, Any]:
    """Check `input` against `policy`; the output is the input unchanged, metrics count the checks."""
    validated, metrics = evaluate_quality_gates(input, policy, ctx=ctx)
    return {"output": validated, "__metrics__": metrics}


run.quality_gate = True
