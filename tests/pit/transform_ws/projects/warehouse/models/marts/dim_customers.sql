WITH firsts AS (
    SELECT customer_id, MIN(order_date) AS first_order
    FROM {{ref 'stg_orders'}}
    GROUP BY customer_id
), labels AS (
    SELECT 'it''s (new)' AS label
)
SELECT c.customer_id, c.name, c.country, f.first_order
FROM {{ ref "stg_customers" }} AS c
LEFT JOIN firsts AS f ON f.customer_id = c.customer_id
