CREATE OR ALTER VIEW [staging].[stg_customers] AS
SELECT customer_id, name, country
FROM raw.customers
WHERE deleted = 0
