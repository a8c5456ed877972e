"""Keep the rows above a threshold."""

from trakt import step_contract


@step_contract(inputs=["input", "threshold"], outputs=["output"], supports_stream=True)
def run(ctx, input, threshold):
    return {"output": (chunk[chunk["amount_eur"] > threshold] for chunk in input)}
