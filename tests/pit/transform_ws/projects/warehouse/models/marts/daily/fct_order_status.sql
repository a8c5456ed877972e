SELECT order_id, status, order_date
FROM {{ ref "stg_orders" }}
WHERE order_date >= DATEADD(day, -3, CAST(GETDATE() AS DATE))
