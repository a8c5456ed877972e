"""Customer returns, defined in Python with trakt's DSL instead of pipeline.yaml.

trakt-dagster discovers module-level workflows in pipelines/ like YAML pipelines.
"""

from trakt import artifact, step, step_contract, workflow


@step_contract(inputs=["input", "max_days"], outputs=["output"])
def late_returns(ctx, input, max_days):
    """Returns made more than `max_days` after delivery."""
    late = input[input["days_after_delivery"] > max_days].reset_index(drop=True)
    return {"output": late, "__metrics__": {"late_returns": len(late)}}


@step_contract(inputs=["input"], outputs=["output"])
def per_reason(ctx, input):
    """Late returns counted per reason."""
    counts = input.groupby("reason", as_index=False).agg(returns=("return_id", "count"))
    return {"output": counts.sort_values("reason").reset_index(drop=True)}


returns = (
    workflow("returns_dsl")
    .source(artifact("returns").at("input/returns.csv"))
    .steps(
        [
            step("late_returns", run=late_returns).input(input="returns").params(max_days=30).output(output="late"),
            step("per_reason", run=per_reason).input(input="late").output(output="reasons"),
        ]
    )
    .output("late_returns", from_="late")
    .output("late_by_reason", from_="reasons")
)
