"""Totals per customer in EUR (data/orders.parquet -> data/customer_totals.parquet)."""

from pit_sdk import read_input, write_output

EUR_PER_UNIT = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}

orders = read_input("orders").to_pandas()
unknown = sorted(set(orders["currency"]) - set(EUR_PER_UNIT))
if unknown:
    print(f"WARNING: dropping orders in unknown currencies: {', '.join(unknown)}")
orders = orders[orders["currency"].isin(list(EUR_PER_UNIT))]
orders["amount_eur"] = (orders["amount"] * orders["currency"].map(EUR_PER_UNIT)).round(2)
totals = (
    orders.groupby("customer", as_index=False)
    .agg(orders=("order_id", "count"), amount_eur=("amount_eur", "sum"))
    .sort_values("customer")
)
print(totals.to_string(index=False))
write_output("customer_totals", totals)
