BEGIN TRANSACTION;

IF OBJECT_ID('[mart].[dim_customers]', 'U') IS NOT NULL
    DROP TABLE [mart].[dim_customers];

WITH firsts AS (
    SELECT customer_id, MIN(order_date) AS first_order
    FROM [staging].[stg_orders]
    GROUP BY customer_id
), labels AS (
    SELECT 'it''s (new)' AS label
)
SELECT *
INTO [mart].[dim_customers]
FROM (
SELECT c.customer_id, c.name, c.country, f.first_order
FROM [staging].[stg_customers] AS c
LEFT JOIN firsts AS f ON f.customer_id = c.customer_id
) AS __pit_model;

COMMIT TRANSACTION;
