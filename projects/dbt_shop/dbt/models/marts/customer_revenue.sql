-- Paid revenue per customer (refunded and pending orders excluded).
select c.customer_id, c.customer_name, c.country,
       count(o.order_id) as paid_orders,
       coalesce(sum(o.amount_eur), 0) as revenue_eur
from {{ ref('stg_customers') }} as c
left join {{ ref('stg_orders') }} as o on o.customer_id = c.customer_id and o.status = 'paid'
group by 1, 2, 3
