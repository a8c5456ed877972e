"""Drop rows without an amount and normalise currency codes."""

from trakt import step_contract


@step_contract(inputs=["input"], outputs=["output"])
def run(ctx, input):
    cleaned = input.dropna(subset=["amount"]).copy()
    cleaned["currency"] = cleaned["currency"].str.upper()
    return {"output": cleaned, "__metrics__": {"rows_dropped": len(input) - len(cleaned)}}
