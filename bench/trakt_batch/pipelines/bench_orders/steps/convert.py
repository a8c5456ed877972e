"""Convert amounts to EUR with a fixed rate table."""

from trakt import step_contract


@step_contract(inputs=["input", "rates"], outputs=["output"])
def run(ctx, input, rates):
    converted = input.copy()
    converted["amount_eur"] = (converted["amount"] * converted["currency"].map(rates)).round(2)
    return {"output": converted}
