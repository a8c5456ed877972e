"""Total order amount and order count per customer and currency."""

from trakt import step_contract


@step_contract(inputs=["input"], outputs=["output"])
def run(ctx, input):
    totals = (
        input.groupby(["customer_id", "currency"], as_index=False)
        .agg(orders=("order_id", "count"), amount=("amount", "sum"))
        .sort_values(["customer_id", "currency"])
        .reset_index(drop=True)
    )
    return {"output": totals, "__metrics__": {"customers": int(totals["customer_id"].nunique())}}
