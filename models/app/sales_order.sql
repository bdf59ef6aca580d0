{{
    config(
        unique_key='order_id',
        post_hook=["{{ advance_identity('order_id') }}"],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

address_keys as not materialized (
    select * from {{ ref('int_address_keys') }}
),

{% if is_incremental() %}
    recomputed_orders as (
        {{ orders_recomputed_in_this_batch() }}
    ),
{% endif %}

-- An order's total is the sum of its migrated lines (business rule 4). The legacy ORDER_TOTAL is
-- only compared: when it is blank, unparseable, or off by more than one cent, the order keeps the
-- line sum and stores the legacy text (and findings records it).
line_sums as (
    {{ order_line_sums(incremental_predicate('lines.order_no in (select order_no from recomputed_orders)')) }}
),

final as (
    select
        orders.order_no::bigint as order_id,
        orders.order_no as legacy_order_no,
        orders.customer_id::bigint as customer_id,
        orders.ordered_at,
        orders.status,
        address_keys.address_id as shipping_address_id,
        orders.currency_code::char(3) as currency,
        coalesce(line_sums.total_cents, 0)::bigint as total_cents,
        case
            when {{ order_total_disagrees('orders.legacy_total_cents', 'coalesce(line_sums.total_cents, 0)') }}
                then orders.legacy_total_text::text
        end as legacy_total_text,
        orders.notes
    from orders
    left join line_sums on orders.order_no = line_sums.order_no
    left join address_keys on orders.ship_address_hash = address_keys.address_hash
    where
        orders.disposition = 'migrated'
        and {{ incremental_predicate('orders.order_no in (select order_no from recomputed_orders)') }}
)

select * from final
