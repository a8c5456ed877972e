BEGIN TRANSACTION;

DELETE FROM [mart].[fct_order_status]
WHERE EXISTS (
    SELECT 1 FROM (
SELECT order_id, status, order_date
FROM [staging].[stg_orders]
WHERE order_date >= DATEADD(day, -3, CAST(GETDATE() AS DATE))
    ) AS __pit_source
    WHERE [mart].[fct_order_status].[order_id] = __pit_source.[order_id]
);

INSERT INTO [mart].[fct_order_status]
SELECT order_id, status, order_date
FROM [staging].[stg_orders]
WHERE order_date >= DATEADD(day, -3, CAST(GETDATE() AS DATE));

COMMIT TRANSACTION;
