SELECT customer_id, name, country
FROM raw.customers
WHERE deleted = 0
