"""Flag orders above a threshold (in EUR)."""

from trakt import step_contract


@step_contract(inputs=["input", "threshold"], outputs=["output"])
def run(ctx, input, threshold):
    flagged = input.copy()
    flagged["large"] = flagged["amount_eur"] > threshold
    return {"output": flagged}
