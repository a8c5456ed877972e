"""Left-join orders to customers and keep orders of at least `min_amount`."""

from trakt import step_contract


@step_contract(inputs=["frames", "min_amount"], outputs=["output"])
def run(ctx, frames, min_amount):
    orders, customers = frames["orders"], frames["customers"]
    joined = orders.merge(customers, on="customer_id", how="left", indicator=True)
    unmatched = int((joined["_merge"] == "left_only").sum())
    if unmatched:
        ctx.emit_event("warning.join_unmatched", unmatched_count=unmatched, keys=["customer_id"])
    kept = joined[joined["amount"] >= min_amount].drop(columns="_merge").reset_index(drop=True)
    return {
        "output": kept,
        "__metrics__": {"rows_dropped": len(joined) - len(kept), "rows_unmatched": unmatched},
    }
