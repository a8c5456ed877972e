"""Totals per day and currency."""

from trakt import step_contract


@step_contract(inputs=["input"], outputs=["output"])
def run(ctx, input):
    day = input["ordered_at"].str.slice(0, 10)
    totals = (
        input.assign(day=day)
        .groupby(["day", "currency"], as_index=False)
        .agg(orders=("order_id", "count"), amount_eur=("amount_eur", "sum"), large=("large", "sum"))
    )
    return {"output": totals}
