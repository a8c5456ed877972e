-- orders as they land, typed; {{ this }} is where this view lives
SELECT
    CAST(order_id AS INT) AS order_id,
    CAST(customer_id AS INT) AS customer_id,
    CAST(amount AS DECIMAL(12, 2)) AS amount,
    CAST(ordered_at AS DATE) AS order_date,
    status,
    '{{ not a ref }}' AS raw_marker
FROM raw.orders
