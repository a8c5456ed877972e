select order_id, customer_id, cast(ordered_at as date) as ordered_at, amount_eur, lower(status) as status
from {{ ref('raw_orders') }}
