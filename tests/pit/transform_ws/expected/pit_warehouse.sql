CREATE OR ALTER PROCEDURE [dbo].[pit_warehouse]
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;

    BEGIN TRY
        -- [1] stg_customers (view)
        CREATE OR ALTER VIEW [staging].[stg_customers] AS
        SELECT customer_id, name, country
        FROM raw.customers
        WHERE deleted = 0

        -- [2] stg_orders (view)
        CREATE OR ALTER VIEW [staging].[stg_orders] AS
        -- orders as they land, typed; [staging].[stg_orders] is where this view lives
        SELECT
            CAST(order_id AS INT) AS order_id,
            CAST(customer_id AS INT) AS customer_id,
            CAST(amount AS DECIMAL(12, 2)) AS amount,
            CAST(ordered_at AS DATE) AS order_date,
            status,
            '{{ not a ref }}' AS raw_marker
        FROM raw.orders

        -- [3] dim_customers (table)
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

        -- [4] fct_order_status (incremental)
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

        -- [6] fct_daily_revenue (incremental)
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

    END TRY
    BEGIN CATCH
        THROW;
    END CATCH
END
