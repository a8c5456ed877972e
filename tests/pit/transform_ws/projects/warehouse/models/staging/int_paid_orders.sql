SELECT * FROM {{ ref "stg_orders" }} WHERE status = 'paid'
