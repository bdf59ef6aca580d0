-- Business rule 4: the sum over migrated orders of total_cents equals the sum of their line
-- totals. Checked order by order (which implies the sum): returns every migrated order whose
-- total_cents differs from the sum of its lines' line_total_cents.

-- depends_on: {{ ref('sync_app_deletes') }}

with

orders as (
    select * from {{ ref('sales_order') }}
),

line_sums as (
    select
        order_id,
        sum(line_total_cents) as line_total_cents
    from {{ ref('order_line') }}
    group by order_id
)

select
    orders.order_id,
    orders.total_cents,
    line_sums.line_total_cents
from orders
left join line_sums on orders.order_id = line_sums.order_id
where
    orders.legacy_order_no is not null
    and orders.total_cents <> coalesce(line_sums.line_total_cents, 0)
