-- Business rule 4: the sum over migrated orders of total_cents equals the sum of their line
-- totals. Checked order by order (which implies the sum): returns every migrated order whose
-- total_cents differs from the sum of its lines' line_total_cents. After an incremental run only
-- the orders whose total was recomputed in it (macro reconcile_only_this_batch).

-- depends_on: {{ ref('sync_app_deletes') }}
-- depends_on: {{ ref('sync_batches') }}
-- depends_on: {{ ref('int_order_totals') }}

{%- set only_this_batch = reconcile_only_this_batch() %}

with

orders as (
    select * from {{ ref('sales_order') }}
    {% if only_this_batch %}
        where order_id in (
            select totals.order_no
            from {{ ref('int_order_totals') }} as totals
            where totals.batch_watermark > {{ sync_low_watermark() }}
        )
    {% endif %}
),

line_sums as (
    select
        order_id,
        sum(line_total_cents) as line_total_cents
    from {{ ref('order_line') }}
    {% if only_this_batch %}
        where order_id in (select orders.order_id from orders)
    {% endif %}
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
