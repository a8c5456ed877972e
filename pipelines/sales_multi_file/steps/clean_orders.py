"""Drop duplicate orders, normalise currency codes and fill the missing sales channel."""

from trakt import step_contract


@step_contract(inputs=["input", "default_channel"], outputs=["output"])
def run(ctx, input, default_channel):
    before = len(input)
    orders = input.drop_duplicates(subset=["order_id"]).copy()
    orders["currency"] = orders["currency"].str.upper()
    orders["channel"] = orders["channel"].fillna(default_channel)
    dropped = before - len(orders)
    if dropped:
        ctx.emit_event("warning.duplicate_orders", dropped=dropped)
    return {"output": orders.reset_index(drop=True), "__metrics__": {"rows_dropped": dropped}}
