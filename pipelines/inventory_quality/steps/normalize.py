"""Rename the warehouse's columns and keep the latest row per SKU and warehouse."""

from trakt import DedupePolicy, RenamePolicy, apply_dedupe_policy, apply_rename_policy, step_contract

RENAMES = RenamePolicy(
    mapping={"SKU": "sku", "WH": "warehouse", "QTY": "quantity", "PRICE": "unit_price", "TS": "counted_at"},
    required=["SKU", "WH", "QTY"],
    optional=["PRICE"],
)

LATEST_COUNT = DedupePolicy(keys=["sku", "warehouse"], winner="latest", order_by="counted_at")


@step_contract(inputs=["input"], outputs=["output"])
def run(ctx, input):
    renamed = apply_rename_policy(input, RENAMES, ctx=ctx)
    latest = apply_dedupe_policy(renamed, LATEST_COUNT)
    return {"output": latest, "__metrics__": {"rows_dropped": len(renamed) - len(latest)}}
