-- Business rule 4: the sum over migrated orders of total_cents equals the sum of their line
-- totals. Checked order by order (which implies the sum): returns every migrated order whose
-- total_cents differs from the sum of its lines' line_total_cents. A sync build checks only the
-- orders whose total its batch recomputed (macro reconcile_only_this_batch).

-- depends_on: {{ ref('sync_app_deletes') }}
-- depends_on: {{ ref('sync_batches') }}
-- depends_on: {{ ref('int_orders_validated') }}
-- depends_on: {{ ref('int_order_lines_validated') }}

{%- set only_this_batch = reconcile_only_this_batch() %}

with

orders as (
    select * from {{ ref('sales_order') }}
    {% if only_this_batch %}
        where order_id in ({{ orders_recomputed_in_this_batch() }})
    {% endif %}
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
{% if only_this_batch %}
    -- A batch's few thousand orders each sum their own lines, by index; all orders are summed at once.
    left join lateral (
        select sum(order_lines.line_total_cents) as line_total_cents
        from {{ ref('order_line') }} as order_lines
        where order_lines.order_id = orders.order_id
    ) as line_sums on true
{% else %}
    left join line_sums on orders.order_id = line_sums.order_id
{% endif %}
where
    orders.legacy_order_no is not null
    and orders.total_cents <> coalesce(line_sums.line_total_cents, 0)
