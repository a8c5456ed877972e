select customer_id, trim(name) as customer_name, upper(country) as country
from {{ ref('raw_customers') }}
