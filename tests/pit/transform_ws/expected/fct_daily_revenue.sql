BEGIN TRANSACTION;

WITH __pit_ephemeral_int_paid_orders AS (
SELECT * FROM [staging].[stg_orders] WHERE status = 'paid'

)

MERGE [mart].[fct_daily_revenue] AS target
USING (
SELECT order_date AS day, country, SUM(amount) AS revenue, COUNT(*) AS orders
FROM __pit_ephemeral_int_paid_orders AS o
JOIN [mart].[dim_customers] AS c ON c.customer_id = o.customer_id
GROUP BY order_date, country
) AS source
ON target.[day] = source.[day] AND target.[country] = source.[country]
WHEN MATCHED THEN
    UPDATE SET target.[revenue] = source.[revenue], target.[orders] = source.[orders]
WHEN NOT MATCHED THEN
    INSERT ([day], [country], [revenue], [orders])
    VALUES (source.[day], source.[country], source.[revenue], source.[orders]);

COMMIT TRANSACTION;
