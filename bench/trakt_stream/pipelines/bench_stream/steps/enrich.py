"""Add the amount in EUR to every chunk."""

from trakt import step_contract


@step_contract(inputs=["input", "rate"], outputs=["output"], supports_stream=True)
def run(ctx, input, rate):
    return {"output": (chunk.assign(amount_eur=(chunk["amount"] * rate).round(2)) for chunk in input)}
