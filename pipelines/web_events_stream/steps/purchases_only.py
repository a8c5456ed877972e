"""Keep purchase events, chunk by chunk."""

from trakt import step_contract


@step_contract(inputs=["input"], outputs=["output"], supports_stream=True)
def run(ctx, input):
    return {"output": (chunk[chunk["kind"] == "purchase"] for chunk in input)}
