SELECT order_date AS day, country, SUM(amount) AS revenue, COUNT(*) AS orders
FROM {{- ref "int_paid_orders" -}} AS o
JOIN {{ ref "dim_customers" }} AS c ON c.customer_id = o.customer_id
GROUP BY order_date, country
